"""HDF5 datasets (NeXus included) as tezip inputs and outputs, through h5py (``tezip[hdf5]``)."""
