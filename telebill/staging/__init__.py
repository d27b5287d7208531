"""The staging installation: the production layout run whole on one machine (`telebill staging`)."""
