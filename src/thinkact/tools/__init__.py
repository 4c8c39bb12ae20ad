"""thinkact.tools"""
