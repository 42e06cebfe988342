"""An example third-party tezip plugin: the ``example.mean`` predictor."""
