"""The PredNet predictor plugin (``tezip.prednet``) and the ``tezip train`` command."""
