"""Run directories: training, evaluation and loading trained models back."""
