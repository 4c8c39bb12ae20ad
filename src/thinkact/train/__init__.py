"""Training for the K2 model stack: MuonClip optimizer, QK-Clip, aux-loss-free router balance.

Import the submodules directly (``thinkact.train.muonclip`` …); nothing is re-exported here so
importing the package stays cheap.
"""
