"""`python -m slim_weights.convert`: kept for the documented command; the binary is
`python -m transfusion_tf.convert_checkpoint` (it builds the Keras model, so it lives in
`transfusion_tf`). Nothing here is imported by the library."""

import runpy

if __name__ == "__main__":
    runpy.run_module("transfusion_tf.convert_checkpoint", run_name="__main__", alter_sys=True)
