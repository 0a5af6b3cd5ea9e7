"""Every config field the trainer and evaluator read, with its default.

Experiment configs start from `base_config()` and change what their experiment needs;
BUILD.md's config reference documents the field groups.
"""

from __future__ import annotations

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0  # Seeds weights, shuffling and augmentation.
    c.deterministic = True  # tf.config.experimental.enable_op_determinism().
    c.precision = "float32"  # float32 | mixed_bfloat16 | mixed_float16 | auto.
    c.task = "dr_grade"  # A name from transfusion_tf.tasks.
    c.task_options = ml_collections.ConfigDict()  # E.g. num_classes for classification.
    _data(c)
    _augment_and_model(c)
    _init(c)
    _training(c)
    _evaluation(c)
    _fine_tuning(c)
    return c


def _data(c: ml_collections.ConfigDict) -> None:
    c.data = ml_collections.ConfigDict()
    c.data.name = "eyepacs"  # A name from pipelines.datasets.list_datasets().
    c.data.root = ""  # The dataset root as distributed (required).
    c.data.options = ml_collections.ConfigDict()  # Reader options, e.g. labels_file.
    c.data.split_fractions = ml_collections.ConfigDict({"train": 0.8, "valid": 0.1, "test": 0.1})
    c.data.split_seed = 0
    c.data.train_split = "train"
    c.data.eval_split = "valid"
    c.data.image_size = 128  # Model input side in pixels.
    c.data.channels = 3
    c.data.resize_mode = "pad"  # pad | squash | center_crop.
    c.data.image_scan = "header"  # none | header | decode.
    c.data.on_bad_image = "stop"  # stop | skip (skipped images are counted and logged).
    c.data.cache = "memory"  # memory | none | <file prefix>.
    c.data.shuffle_buffer = 10_000  # TFRecord datasets: records in the shuffle buffer.
    # Small-data regime (paper: 5,000): keep this many training images, patients whole and
    # grades stratified (pipelines/readers/subsets.py); 0 keeps them all. Nested across sizes.
    c.data.train_subset = 0
    c.data.subset_seed = 0


def _augment_and_model(c: ml_collections.ConfigDict) -> None:
    c.augment = ml_collections.ConfigDict()
    c.augment.flip_left_right = True
    c.augment.flip_up_down = False
    c.augment.rotate_degrees = 0.0
    c.augment.brightness = 0.0
    c.augment.contrast = 0.0

    c.model = ml_collections.ConfigDict()
    c.model.name = "cbr_small"  # A name from transfusion_tf.models.list_models().
    c.model.preprocessing = "inception"  # Weight-free models; pretrained ones use the manifest.
    c.model.options = ml_collections.ConfigDict()  # Builder options, e.g. widths.
    # L2 weight decay on every kernel, added to the training loss as tf_slim's
    # l2_regularizer does: weight_decay * sum(w**2) / 2. None is the model's slim default
    # (resnet_v1_50 1e-4 and inception_v3 4e-5, from their arg scopes; the CBRs 0, slim.conv2d's
    # default); 0 disables it. A field of its own, not in model.options, because it changes the
    # loss, not the weights' shapes: registered weights load under any value. Not the
    # optimizer's decoupled (AdamW) optimizer.weight_decay.
    c.model.weight_decay = ml_collections.config_dict.placeholder(float)


def _init(c: ml_collections.ConfigDict) -> None:
    # How the weights start (the paper's Figs 6-8; transfusion_tf/initialization.py).
    c.init = ml_collections.ConfigDict()
    # random | imagenet | mean_var | transfusion | hybrid_slim | gabor_conv1.
    c.init.kind = "random"
    c.init.checkpoint = ""  # Pretrained checkpoint; '' uses the registered one (CBRs).
    c.init.registry = ""  # Registry of trained weights; '' is ~/.transfusion_tf/weights.json.
    c.init.up_to = ""  # transfusion: highest endpoint copied; hybrid_slim: '' is block2.
    c.init.rest = "random"  # transfusion above up_to: random | mean_var.
    c.init.bn_mode = "identity"  # mean_var batch norm: identity | resample | copy.
    c.init.width_factor = 0.5  # hybrid_slim: channel factor of the blocks above up_to.
    c.init.seed = 0  # With `seed`, seeds the surgery's draws (mean_var).


def _training(c: ml_collections.ConfigDict) -> None:
    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 32  # Global batch, split over replicas.
    c.train.total_steps = 1000
    c.train.checkpoint_every = 100
    c.train.eval_every = 100
    c.train.log_every = 10
    c.train.keep_checkpoints = 5
    c.train.eval_at_start = False  # Evaluate the initial weights (step 0) too.

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"  # adam | adamw | sgd.
    c.optimizer.learning_rate = 1e-3
    c.optimizer.momentum = 0.9  # sgd only.
    c.optimizer.nesterov = False  # sgd only.
    c.optimizer.weight_decay = 0.0
    c.optimizer.clipnorm = 0.0

    c.schedule = ml_collections.ConfigDict()
    c.schedule.name = "cosine"  # constant | cosine | step.
    c.schedule.warmup_steps = 0
    c.schedule.end_factor = 0.0  # cosine: final lr / base lr.
    c.schedule.boundaries = ()  # step: steps where lr is multiplied by gamma.
    c.schedule.gamma = 0.1


def _evaluation(c: ml_collections.ConfigDict) -> None:
    c.eval = ml_collections.ConfigDict()
    c.eval.batch_size = 64
    c.eval.bootstrap_samples = 1000  # For metrics.json (evaluate binary).
    c.eval.log_bootstrap_samples = 200  # For eval_log.csv during training (0 skips the CI).
    c.eval.bootstrap_seed = 0
    c.eval.thresholds = (0.85,)  # Main-metric targets for steps-to-threshold.
    # Splits the finished run evaluates into metrics.json (as the evaluate binary does), so
    # one train command yields a complete run; () leaves it to `transfusion_tf.evaluate`.
    c.eval.final_splits = ()
    c.eval.aggregate = "none"  # none | mean | max: combine a study's views (CheXpert).
    # TensorBoard at each evaluation: per-block weight and gradient-norm histograms, ROC/PR
    # curves and confusion matrices (transfusion_tf/tensorboard_summaries.py); False keeps
    # the metric scalars only.
    c.eval.tensorboard_details = True


def _fine_tuning(c: ml_collections.ConfigDict) -> None:
    """The fine-tuning fields of `init`, `train` and `eval`, as TF-Slim's
    train_image_classifier.py has them (transfusion_tf/finetuning.py)."""
    # Endpoints or variable scopes whose pretrained weights are NOT copied: they keep the
    # model's own initialisation (TF-Slim's --checkpoint_exclude_scopes; the head is always
    # new). 'block4' or 'resnet_v1_50/block4,...', or a tuple of names
    # (transfusion_tf/scopes.py says how names match). '' copies all the kind copies.
    c.init.exclude_scopes = _any("")
    # Endpoints or variable scopes that train ('block4,logits' or a tuple); every other
    # layer is frozen, its batch norm in inference mode (moving statistics used and kept).
    # '' trains everything.
    c.train.trainable_scopes = _any("")
    # Softmax targets 1 - s + s/K on the label and s/K elsewhere; sigmoid targets
    # y(1 - s) + s/2 (tf.losses' rule). Training loss only: metrics score probabilities.
    c.train.label_smoothing = 0.0
    # Per-example loss weights by class, for imbalanced grades: '' (all 1), 'balanced'
    # (n / (K * n_c) from the training split's labels, scikit-learn's rule) or K weights.
    # Single-label tasks (dr_grade, classification).
    c.train.class_weights = _any("")
    # Exponential moving average of the weights (decay, e.g. 0.999; 0 off), TF-Slim's
    # --moving_average_decay: averages in every checkpoint, scored if eval.use_ema.
    c.train.ema_decay = 0.0
    # Stop after this many evaluations in a row whose main metric does not beat the best
    # so far by more than early_stopping_min_delta (Keras' EarlyStopping); 0 never stops.
    c.train.early_stopping = 0
    c.train.early_stopping_min_delta = 0.0
    # Keep the weights of the best evaluation (main metric) in checkpoints/best/, apart
    # from the keep_checkpoints rotation (evaluate --checkpoint=best).
    c.train.keep_best = False
    # Runs with train.ema_decay > 0: evaluations during training, the final ones and
    # `evaluate` score the weight averages (False: the trained weights themselves).
    c.eval.use_ema = True


def _any(default) -> ml_collections.FieldReference:
    """A field that takes a string or a tuple (`--config.train.class_weights=balanced` or
    `=(1.0,2.0,...)`), where ml_collections would fix the default's type."""
    return ml_collections.FieldReference(default, field_type=object)
