"""The Trainer step and the training loop it shares with tuner and Katib trials.

- component.py (the step's spec) and executor.py (run_fn: what the step does):
  choose where the run's checkpoints live (checkpoint_dirs.py) and where it starts
  (warm_start.py), then train in this process (loop.py) or as replicas
  (cluster.py launching job.py, locally or as a TFJob).
- loop.py: the loop, read top to bottom, over a `TrainInputs` (inputs.py); its
  pieces: run.py (set-up and per-epoch state), restore.py (resume or warm start),
  epoch_steps.py (an epoch's steps per transfer stage, then the polish),
  early_stopping.py; it returns a `TrainRecord` (train_record.py, the JSON file).
- libraries of the loop: data, model, training_state, evaluation, learning_rate,
  strategy, stepping, checkpoints, vocabularies, transfer, polish, export.
"""
