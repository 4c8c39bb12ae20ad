"""thinkact.chat_format"""
