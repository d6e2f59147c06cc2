"""The API's routers: each route checks who is calling and calls one service function."""
