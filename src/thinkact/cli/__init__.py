"""thinkact.cli"""
