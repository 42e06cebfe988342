"""tezip's classical predictors (``tezip.zero``, ``tezip.previous``, ``tezip.linear``) and the
``tezip.lorenzo`` spatial decorrelation stage."""
