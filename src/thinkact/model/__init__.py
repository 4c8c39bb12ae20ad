"""thinkact.model"""
