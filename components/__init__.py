"""The pipeline's steps and the libraries they share.

A step is a package in TFX's shape: `component.py` declares the step (its inputs,
outputs and parameters, and builds its node for pipelines/pipeline.py) and
`executor.py` does its work; the step's own helpers sit beside them.

| step (node id)      | package                                          |
|---------------------|--------------------------------------------------|
| Ingest              | csv_ingest/, image_ingest/, simulator_ingest/    |
| ProductionModel     | production_model/                                |
| DriftGate           | drift_gate/                                      |
| Transform           | transform/                                       |
| Tuner               | tuning/                                          |
| Trainer             | trainer/                                         |
| CheckpointEvaluator | checkpoint_evaluator/                            |
| Evaluator           | blessing/ (what blesses a model: policy.py)      |
| Pusher              | pusher/                                          |

Libraries (no step of their own): config/ (the pipeline config), registry/ (the
model registry and what a production-model artifact holds), launchers/ (TFJob,
Katib and local worker processes), model_bases/ (pre-trained bases),
simulators/ and grid_errors/ (memorizing a simulator's grid), and the modules
errors.py, progress.py, features.py, column_keys.py, hyperparameters.py and
example_gen_config.py.
"""
