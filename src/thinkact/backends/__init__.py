"""thinkact.backends"""
