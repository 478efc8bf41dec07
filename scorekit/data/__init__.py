"""Files and their geometry: volumes, label maps, .seg.nrrd, workspaces and ratings."""
