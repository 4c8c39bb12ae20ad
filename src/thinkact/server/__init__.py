"""thinkact.server"""
