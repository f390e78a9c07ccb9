"""Pictures as arrays: the one set of image metrics shared by rewards, data filters and evaluation."""
