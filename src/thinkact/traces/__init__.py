"""thinkact.traces"""
