"""The shipped studies, one module per paper table or figure (see `catalog.STUDY_MODULES`)."""
