"""thinkact.agent"""
