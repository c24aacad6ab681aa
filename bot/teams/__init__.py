"""The Microsoft Teams adapter: Bot Framework activities in, neutral handler calls, Adaptive Cards out.

Built on the Microsoft Teams SDK for Python (`microsoft-teams-apps`): its token validator checks every
request, its activity models read what Teams sends, its card models build what Teams shows, and its API
client talks to the Bot Connector. The SDK's own web server (FastAPI) is not used: lisbot has one web
server (aiohttp), and /api/messages is a route on it beside /slack/events.
"""
