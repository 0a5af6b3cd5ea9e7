"""transfusion_tf: the Transfusion study (Raghu et al., NeurIPS 2019) in TensorFlow 2 / Keras."""
