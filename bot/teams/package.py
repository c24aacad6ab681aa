"""`lisbot teams package`: the Teams app package an admin uploads (Teams admin center → Manage apps →
Upload new app): manifest.json and two icons, zipped at the root of the archive."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

from bot.teams.adapter import MESSAGE_EXTENSION_COMMAND

MANIFEST_VERSION = "1.17"
SCHEMA = f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
ACCENT = "#1F3A5F"
COLOR_SIZE, OUTLINE_SIZE = 192, 32


class PackageError(Exception):
    """A value the package needs is missing or malformed; the message names it."""


def manifest(*, app_id: str, url: str, version: str = "1.0.0", developer: str = "lisbot",
             privacy_url: str | None = None, terms_url: str | None = None) -> dict:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise PackageError("--url must be the https address where lisbot answers, e.g. https://lisbot.example.se")
    if not re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", app_id or ""):
        raise PackageError("CLIENT_ID is not set or is not a GUID (the bot's Microsoft App ID)")
    base = f"https://{parts.netloc}"
    commands = [
        {"title": "rapportera", "description": "Rapportera en incident (report an incident)"},
        {"title": "incidenter", "description": "Ärenden du får se (cases you may see)"},
        {"title": "utbildning", "description": "Årets obligatoriska utbildning (this year's training)"},
        {"title": "förbättring", "description": "Skicka ett förbättringsförslag (send an improvement proposal)"},
        {"title": "fakta", "description": "Fakta till ledningens genomgång (facts for the review)"},
        {"title": "exportera", "description": "Incidentloggen som CSV; 'exportera dataskydd' (export the logs)"},
        {"title": "hjälp", "description": "Vad lisbot kan göra (what lisbot does)"},
    ]
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": app_id,
        "developer": {"name": developer, "websiteUrl": base, "privacyUrl": privacy_url or base,
                      "termsOfUseUrl": terms_url or base},
        "name": {"short": "lisbot", "full": "lisbot – informationssäkerhet (LIS)"},
        "description": {
            "short": "Rapportera incidenter och följ upp informationssäkerheten i chatten.",
            "full": ("lisbot hjälper organisationen med ledningssystemet för informationssäkerhet (LIS, "
                     "ISO/IEC 27001): medarbetare rapporterar incidenter på under en minut och får kvitto, "
                     "samordnare och dataskyddsombud följer upp med lagens tidsfrister i sikte, och underlaget "
                     "till Ledningens genomgång samlas löpande."),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [{
            "botId": app_id,
            "scopes": ["personal", "team", "groupChat"],
            "supportsFiles": True,  # the HR file, sent in the 1:1 chat (bot.teams.directory)
            "isNotificationOnly": False,
            "commandLists": [{"scopes": ["personal"], "commands": commands},
                             {"scopes": ["team", "groupChat"], "commands": commands[:1] + [
                                 {"title": "kanal", "description": "Kanalens id, för LISBOT_SECURITY_CHANNEL"}]}],
        }],
        "composeExtensions": [{
            "botId": app_id,
            "commands": [{
                "id": MESSAGE_EXTENSION_COMMAND, "type": "action", "title": "Rapportera incident",
                "description": "Rapportera en incident, gärna utifrån ett meddelande",
                "context": ["message", "compose", "commandBox"], "fetchTask": True,
            }],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [parts.hostname],
    }


def color_icon() -> bytes:
    """192×192, full colour: a white shield on the accent colour."""
    image = Image.new("RGBA", (COLOR_SIZE, COLOR_SIZE), ACCENT)
    _shield(ImageDraw.Draw(image), COLOR_SIZE, fill=(255, 255, 255, 255), inset=36)
    return _png(image)


def outline_icon() -> bytes:
    """32×32, white on transparent only, as Teams requires of the outline icon."""
    image = Image.new("RGBA", (OUTLINE_SIZE, OUTLINE_SIZE), (0, 0, 0, 0))
    _shield(ImageDraw.Draw(image), OUTLINE_SIZE, fill=(255, 255, 255, 255), inset=4)
    return _png(image)


def _shield(draw: ImageDraw.ImageDraw, size: int, *, fill, inset: int) -> None:
    left, right, top, bottom = inset, size - inset, inset, size - inset
    middle = size // 2
    draw.polygon([(left, top), (right, top), (right, (top + bottom) // 2), (middle, bottom),
                  (left, (top + bottom) // 2)], fill=fill)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def build(path: Path, *, app_id: str, url: str, **options) -> Path:
    data = manifest(app_id=app_id, url=url, **options)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(data, ensure_ascii=False, indent=2))
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return path
