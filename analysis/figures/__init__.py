"""Drawing code: figures from saved results only (no training, no activations computed).

  cca.py          Figs 2-4 from `analysis.run_analysis`'s CSVs, with their null floors
  filters.py      Fig 5, conv1 filters at init and after training, from NPZ files
  convergence.py  metric vs step from eval logs, steps to thresholds marked per seed
  files.py        saving a figure in every requested format (headless backend)

The `python -m analysis.plot_*` binaries are thin shells over these.
"""
