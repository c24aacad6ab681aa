"""The management review for a city-scale organisation: time, SQL statements and peak memory (issue #6).

    .venv/bin/python bench/review.py [--people 50000 --assets 10000 --incidents 100000]
                                     [--database sqlite] [--database postgresql://postgres@127.0.0.1:5432/postgres]
                                     [--scales 0.1,1] [--runs 5] [--profile /tmp/review]

For each database and each scale (default 1/10 and full) the run makes a fresh database (a temporary SQLite
file, or `lisbot_bench_review` on the PostgreSQL server the URL names, dropped afterwards), migrates it with
`Database.upgrade()`, fills it with bulk inserts, and then, in a fresh child process (so its memory is the data
part's and not the generator's), times `handlers.review_data.gather` (the data part) `--runs` times after one
cold run, counts the SQL statements it executes, measures its peak memory (tracemalloc, and peak RSS: VmHWM,
see `rss_peak_mb`), breaks it down per step (time, statements, rows) and times `handlers.review.documents`
once. bench/README.md has more.

Target (issue #6): about one second for the data part, and a statement count that does not grow with the data.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH_DB = "lisbot_bench_review"
YEAR = 2026
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=timezone.utc)  # when the coordinator compiles the 2026 review
START = datetime(2024, 1, 1, tzinfo=timezone.utc)  # incidents over three years: 2024, 2025 and 2026 so far
ORG = 1
CHUNK = 5000

# ---------------------------------------------------------------------------------------------- data

FIRST = ("Anna Eva Maria Karin Sara Lena Kerstin Emma Ingrid Marie Malin Jenny Hanna Linda Elin Ida Sofia Johanna "
         "Elisabeth Birgitta Annika Susanne Camilla Louise Helena Ulla Åsa Ebba Maja Alva Klara Nora Agnes Tove "
         "Lars Erik Karl Anders Johan Per Nils Mikael Jan Hans Peter Olof Lennart Gunnar Sven Fredrik Daniel "
         "Mattias Magnus Andreas Stefan Jonas Thomas Oskar Axel Viktor Gustav Emil Hugo Filip Simon Ali Mohammed "
         "Ahmed Fatima Amina Yusuf Leila Omar Reza Mina Hassan Sami Noor Ibrahim Zainab Dragan Milica Ana Jovana "
         "Piotr Agnieszka Tomasz Katarzyna Juan Lucia Carlos Sofía Mehmet Ayşe Kemal Elif Aino Juhani Liisa").split()
LAST = ("Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson Pettersson "
        "Jonsson Jansson Hansson Bengtsson Jönsson Lindberg Jakobsson Magnusson Olofsson Lindström Lindqvist "
        "Lindgren Axelsson Berg Bergström Lundberg Lind Lundgren Lundqvist Mattsson Berglund Fredriksson Sandberg "
        "Henriksson Forsberg Sjöberg Wallin Engström Eklund Danielsson Lundin Håkansson Björk Bergman Gunnarsson "
        "Holm Wikström Samuelsson Isaksson Fransson Bergqvist Nyström Holmberg Arvidsson Löfgren Söderberg "
        "Nyberg Blomqvist Claesson Nordström Mårtensson Lundström Viklund Björklund Eliasson Pålsson Berggren "
        "Sandström Lund Nordin Ström Åberg Hermansson Ekström Holmgren Sundberg Hedlund Dahlberg Hellström "
        "Sjögren Abrahamsson Martinsson Öberg Andreasson Strömberg Månsson Hansen Åkesson Dahl Lindholm Norberg "
        "Holmqvist Ali Mohammed Ahmed Hassan Hussein Yilmaz Kaya Nguyen Novak Kowalski Nowak Petrović Jovanović "
        "Korhonen Virtanen Mäkinen Nieminen García Rodríguez Silva Rossi Müller Schmidt Ibrahim Khalil Rahimi "
        "Haddad Mansour Saleh Farah Osman Abdi Warsame Jama Tran Le Pham Kim Lee Park Chen Wang Li Zhang").split()
AREAS = ("Stadsbyggnadskontoret", "Socialförvaltningen", "Utbildningsförvaltningen", "Kulturförvaltningen",
         "Miljöförvaltningen", "Trafikkontoret", "Fastighetskontoret", "Exploateringskontoret", "Idrottsförvaltningen",
         "Stadsledningskontoret", "Serviceförvaltningen", "Arbetsmarknadsförvaltningen", "Äldreförvaltningen",
         "Stadsdelsförvaltning Norr", "Stadsdelsförvaltning Söder", "Stadsdelsförvaltning Väster",
         "Stadsdelsförvaltning Öster", "Överförmyndarförvaltningen", "Revisionskontoret", "Kommunstyrelsen")
UNITS = ("Ekonomi HR IT Kommunikation Juridik Administration Upphandling Förskola Grundskola Gymnasium Vuxenutbildning "
         "Hemtjänst Boende Individ-och-familj Bygglov Kart-och-GIS Parkering Gata Park Bibliotek Arkiv "
         "Kundtjänst Lokalförsörjning Analys Planering Tillsyn Fritid Mottagning").replace("-och-", " och ").split(" ")
LESSONS = (
    "Rutinen för utskick med känsliga bilagor har skärpts; {name} har gått igenom den med enheten.",
    "Behörigheterna i verksamhetssystemet ses nu över varje kvartal.",
    "Vi har infört tvåfaktorsinloggning för fjärråtkomst efter samtal med {email}.",
    "Leverantören har ändrat loggningen så att avvikelser larmar direkt.",
    "Skyddsronden visade att belysningen i lastkajen var otillräcklig; den är utbytt.",
    "Personalen har fått en kort utbildning i att känna igen nätfiske.",
    "Det saknades en ansvarig för systemet; {name} är nu objektledare.",
    "Backuperna testas nu månadsvis och resultatet rapporteras till samordnaren.",
)
DESCRIPTIONS = ("Ett mejl med personuppgifter skickades till fel mottagare.", "Misstänkt nätfiskemejl till flera "
                "medarbetare.", "En medarbetare halkade i trapphuset.", "Servern för ärendehantering låg nere en "
                "förmiddag.", "En olåst dator lämnades i ett mötesrum.", "Hot mot personal i receptionen.")


def chunks(rows: list, size: int = CHUNK):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def add_months(day: date, months: int) -> date:
    from handlers.coverage import add_months as project_add_months
    return project_add_months(day, months)


def make_data(people: int, assets: int, incidents: int, seed: int = 6) -> dict[str, list[dict]]:
    """All rows, as plain dicts per table name, in insertion order (parents first)."""
    r = random.Random(seed)
    t: dict[str, list[dict]] = {}
    at = lambda d: datetime(d.year, d.month, d.day, 9, tzinfo=timezone.utc)  # noqa: E731
    t["organisations"] = [{"id": ORG, "platform": "slack", "external_id": "TBENCH", "name": "Stockholms stad (bench)",
                           "created_at": START - timedelta(days=400)}]

    # Departments (~200 at 50 000 people), each with a manager; the managers report to a director.
    n_dep = max(10, round(people / 250))
    names = sorted({f"{a} – {u}" for a in AREAS for u in UNITS})
    r.shuffle(names)
    t["departments"] = [{"id": i + 1, "org_id": ORG, "name": names[i % len(names)] + (f" {i // len(names) + 1}"
                                                                                      if i >= len(names) else "")}
                        for i in range(n_dep)]
    dep_of_manager = {}
    rows = []
    for pid in range(1, people + 1):
        dep = pid if pid <= n_dep else r.randint(1, n_dep)
        manager = None if pid == 1 else (1 if pid <= n_dep else dep)
        if pid <= n_dep:
            dep_of_manager[pid] = dep
        first, last = r.choice(FIRST), r.choice(LAST)
        if r.random() < 0.35:  # a second given name in the directory's display name
            first = f"{first} {r.choice(FIRST)}"
        if r.random() < 0.15:  # a double surname
            last = f"{last} {r.choice(LAST)}" if r.random() < 0.5 else f"{last}-{r.choice(LAST)}"
        active = r.random() > 0.05
        slack = r.random() < 0.92
        rows.append({
            "id": pid, "org_id": ORG, "slack_user_id": f"U{pid:09d}" if slack else None,
            "name": f"{first} {last}", "email": f"{first}.{last}.{pid}@stockholm.se".lower().replace(" ", "."),
            "locale": "sv-SE", "tz": "Europe/Stockholm", "dm_channel_id": f"D{pid:09d}" if slack else None,
            "department_id": dep, "manager_id": manager, "employment": "consultant" if r.random() < 0.08 else "employee",
            "start_date": date(2000, 1, 1) + timedelta(days=r.randint(0, 9400)), "active": active,
            "in_hr_file": True, "deactivated_at": None if active else NOW - timedelta(days=r.randint(1, 700)),
            "created_at": START - timedelta(days=30), "updated_at": START})
    t["people"] = rows
    owners_pool = list(range(n_dep + 1, people + 1))
    r.shuffle(owners_pool)
    owners_pool = owners_pool[:max(50, assets // 3)]  # each object owner holds about three assets
    roles = [{"person_id": pid, "role": "chef"} for pid in range(1, n_dep + 1)]
    roles += [{"person_id": pid, "role": "objektledare"} for pid in owners_pool]
    roles += [{"person_id": n_dep + 1 + i, "role": role} for i, role in enumerate(
        ["informationssakerhetssamordnare"] * 5 + ["dataskyddsombud"] * 2 + ["admin"] * 2)]
    roles.append({"person_id": 1, "role": "bolagschef"})
    seen = set()
    t["person_roles"] = [x for x in roles if (x["person_id"], x["role"]) not in seen
                         and not seen.add((x["person_id"], x["role"]))]
    person_dep = {p["id"]: p["department_id"] for p in t["people"]}

    # Incidents over three years, more in autumn and spring; kinds (some several), severities, statuses.
    span = (NOW - timedelta(hours=2) - START).total_seconds()
    incs, kinds, breaches = [], [], []
    for iid in range(1, incidents + 1):
        reported = START + timedelta(seconds=r.random() * span)
        if reported.month in (7,) and r.random() < 0.5:  # a quieter July
            reported = START + timedelta(seconds=r.random() * span)
        discovered = reported - timedelta(minutes=r.randint(5, 72 * 60))
        age = (NOW - reported).days
        u = r.random()
        if age > 60:
            status = "closed" if u < 0.86 else "not_incident" if u < 0.94 else "resolved" if u < 0.97 else "investigating"
        else:
            status = ("new" if u < 0.15 else "triage" if u < 0.30 else "investigating" if u < 0.50
                      else "resolved" if u < 0.60 else "closed" if u < 0.93 else "not_incident")
        closed_at = (reported + timedelta(days=r.randint(1, min(60, max(1, age))), hours=r.randint(0, 8))
                     if status in ("closed", "not_incident") else None)
        if closed_at and closed_at > NOW:
            closed_at = NOW - timedelta(hours=1)
        u = r.random()
        first = "infosec" if u < 0.45 else "personal_data" if u < 0.72 else "work_env" if u < 0.92 else "other"
        these = {first}
        if r.random() < 0.15:
            these.add(r.choice(("infosec", "personal_data", "work_env", "other")))
        if r.random() < 0.03:
            these.add(r.choice(("infosec", "personal_data", "work_env", "other")))
        reporter = r.randint(1, people)
        injury = (("injured" if r.random() < 0.3 else "near_miss" if r.random() < 0.7 else "none")
                  if "work_env" in these else None)
        serious = (r.random() < 0.25) if injury == "injured" and r.random() < 0.6 else None
        lesson = None
        if status == "closed" and r.random() < 0.4:
            p = t["people"][r.randint(0, people - 1)]
            lesson = r.choice(LESSONS).format(name=p["name"], email=p["email"])
        incs.append({
            "id": iid, "org_id": ORG, "reference": f"INC-{reported.year}-{iid:06d}", "reporter_id": reporter,
            "status": status, "description": r.choice(DESCRIPTIONS),
            "occurred_at": discovered - timedelta(hours=r.randint(0, 48)) if r.random() < 0.6 else None,
            "discovered_at": discovered, "reported_at": reported,
            "asset_text": None, "personal_data": ("yes" if "personal_data" in these else
                                                  "unknown" if r.random() < 0.1 else "no"),
            "sensitive_data": "no", "people_affected": r.randint(1, 200) if "personal_data" in these else None,
            "injury": injury, "source_key": f"bench:{iid}", "source_link": None,
            "department_id": person_dep[reporter], "handler_id": r.randint(n_dep + 1, n_dep + 5) if status != "new" else None,
            "severity": None if status == "new" else r.choices((1, 2, 3, 4), (40, 35, 18, 7))[0],
            "last_activity_at": closed_at or reported, "closed_at": closed_at,
            "close_reason": "Inte en incident." if status == "not_incident" else None,
            "cause": "Den mänskliga faktorn." if status == "closed" else None,
            "measures": "Åtgärdat." if status == "closed" else None, "lessons": lesson,
            "serious_work_env": serious,
            "awv_reported_at": reported + timedelta(days=1) if serious and r.random() < 0.8 else None})
        kinds += [{"incident_id": iid, "kind": k} for k in sorted(these)]
        if "personal_data" in these and r.random() < 0.8:  # a breach record for most personal-data incidents
            decision = r.choices(("yes", "no", None), (30, 55, 15))[0]
            decided = discovered + timedelta(hours=r.choice((r.randint(2, 70), r.randint(2, 70), r.randint(60, 200))))
            breaches.append({
                "incident_id": iid, "nature": r.sample(["confidentiality", "integrity", "availability"], r.randint(1, 2)),
                "subject_categories": "Elever och vårdnadshavare", "subjects_approx": r.randint(1, 500),
                "records_approx": r.randint(1, 5000), "special_categories": r.choice(("yes", "no", "unknown")),
                "consequences": "Risk för att uppgifterna sprids.", "measures": "Mottagaren ombads radera mejlet.",
                "notify_imy": decision, "notify_reason": "Bedömning gjord." if decision else None,
                "decided_at": decided if decision else None,
                "notified_at": decided + timedelta(hours=r.randint(0, 30)) if decision == "yes" else None,
                "imy_reference": f"IMY-{iid}" if decision == "yes" else None, "inform_subjects": "no",
                "inform_reason": None, "updated_at": discovered + timedelta(days=3)})
    t["incidents"], t["incident_kinds"], t["breach_records"] = incs, kinds, breaches

    # A training campaign per year, every active person assigned, mixed statuses.
    t["training_campaigns"], t["training_assignments"] = [], []
    aid = 0
    for cid, year in enumerate((YEAR - 2, YEAR - 1, YEAR), 1):
        deadline = date(year, 11, 30)
        t["training_campaigns"].append({
            "id": cid, "org_id": ORG, "year": year, "courses": ["Informationssäkerhet grund", "Dataskydd (GDPR)"],
            "deadline": deadline, "joiner_days": 30, "remind_every_days": 7, "max_reminders": 3,
            "status": "active" if year == YEAR else "closed", "started_at": at(date(year, 2, 1)), "started_by": n_dep + 1})
        weights = (3, 2, 72, 5, 18) if year == YEAR else (1, 1, 86, 4, 8)
        for p in t["people"]:
            if not p["active"] and year == YEAR:
                continue
            dep_factor = (p["department_id"] % 7) / 20  # some departments lag behind
            status = r.choices(("not_yet", "exemption_requested", "done", "exempt", "pending"), weights)[0]
            if status == "done" and r.random() < dep_factor:
                status = "pending"
            aid += 1
            done = status == "done"
            t["training_assignments"].append({
                "id": aid, "campaign_id": cid, "person_id": p["id"], "department_id": p["department_id"],
                "deadline": deadline, "status": status,
                "completed_on": date(year, 3, 1) + timedelta(days=r.randint(0, 250)) if done else None,
                "exemption_reason": "Långtidsfrånvaro." if status in ("exempt", "exemption_requested") else None,
                "exemption_decided_by": p["manager_id"] if status == "exempt" else None, "exemption_rejected": False,
                "reminders_sent": 0 if done else r.randint(0, 3),
                "next_reminder_at": None if done or year != YEAR else NOW + timedelta(days=r.randint(1, 7)),
                "manager_told_at": None, "updated_at": at(date(year, 3, 1))})

    # The asset register: owners, 1–3 classifications each (history), action items, continuity plans, rounds.
    today = NOW.date()
    t["assets"], t["classifications"], t["action_items"], t["continuity_plans"] = [], [], [], []
    cls_id = 0
    for asset_id in range(1, assets + 1):
        owner = None if r.random() < 0.03 else r.choice(owners_pool)
        personal = r.random() < 0.4
        latest_next = None
        n_cls = 0 if r.random() < 0.08 else r.choice((1, 1, 2, 2, 3))
        day = today - timedelta(days=r.randint(0, 420))  # latest classification: most within the year
        history = []
        for k in range(n_cls):
            history.append(day)
            day = add_months(day, -12) - timedelta(days=r.randint(0, 40))
        for classified_on in reversed(history):
            cls_id += 1
            nxt = add_months(classified_on, 12)
            latest_next = nxt
            t["classifications"].append({
                "id": cls_id, "asset_id": asset_id, "confidentiality": r.choices(range(5), (5, 20, 40, 25, 10))[0],
                "integrity": r.choices(range(5), (5, 25, 40, 25, 5))[0],
                "availability": r.choices(range(5), (5, 25, 35, 25, 10))[0], "classified_on": classified_on,
                "classified_by": owner, "method": "KLASSA", "method_version": "5.0", "next_review": nxt,
                "source": r.choice(("round", "import", "edit")), "round_id": None, "created_at": at(classified_on)})
            for _ in range(r.choice((0, 0, 1, 1, 2, 3))):
                due = classified_on + timedelta(days=r.randint(30, 400))
                t["action_items"].append({
                    "asset_id": asset_id, "classification_id": cls_id,
                    "requirement": "Inför loggning av behörighetsförändringar.", "owner_id": owner, "due": due,
                    "status": r.choices(("not_started", "in_progress", "done", "risk_accepted"), (25, 25, 40, 10))[0],
                    "updated_at": at(classified_on)})
        t["assets"].append({
            "id": asset_id, "org_id": ORG, "name": f"{r.choice(UNITS)}system {asset_id:05d}",
            "description": "Verksamhetssystem.", "kind": r.choice(("system", "system", "information", "service")),
            "owner_id": owner, "information_owner_id": r.choice(owners_pool), "department_id": r.randint(1, n_dep),
            "supplier": r.choice((None, "Tieto", "CGI", "Microsoft", "Visma", "Egen drift")), "personal_data": personal,
            "special_categories": personal and r.random() < 0.2,
            "ropa_reference": f"RF-{asset_id}" if personal and r.random() < 0.85 else None,
            "continuity_relevant": r.random() < 0.2, "active": r.random() > 0.05, "next_review": latest_next,
            "created_at": START - timedelta(days=800), "updated_at": START})
        if r.random() < 0.45:
            has = r.random() < 0.7
            t["continuity_plans"].append({
                "asset_id": asset_id, "has_plan": has,
                "last_exercised": today - timedelta(days=r.randint(10, 700)) if has and r.random() < 0.7 else None,
                "next_exercise_due": None, "updated_at": START})
    # Rounds: one a quarter for two years, each asking about a quarter of the register.
    t["classification_rounds"], t["round_requests"] = [], []
    for rid in range(1, 9):
        started = at(today - timedelta(days=91 * (8 - rid) + 20))
        due = started.date() + timedelta(days=14)
        t["classification_rounds"].append({"id": rid, "org_id": ORG, "kind": "scheduled", "due": due,
                                           "started_at": started, "started_by": None})
        for asset_id in range(1 + (rid % 4), assets + 1, 4):
            a = t["assets"][asset_id - 1]
            u = r.random()
            answered = (None if u < 0.15 or (due > today and u < 0.6) else
                        started + timedelta(days=r.randint(0, 13) if u < 0.8 else r.randint(15, 40)))
            if answered and answered > NOW:
                answered = None
            t["round_requests"].append({"round_id": rid, "asset_id": asset_id, "owner_id": a["owner_id"],
                                        "answered_at": answered, "reminders_sent": r.randint(0, 2),
                                        "next_reminder_at": None})

    # The facts of the year, an earlier published review with its decisions, and improvement proposals.
    upd = at(date(YEAR, 11, 1))
    someone = t["people"][people // 2]["name"]
    routines = ("behorighetshantering", "implementering_av_lokal_anvisning", "incidenthantering",
                "informationsklassning", "informationssakerhet_i_upphandling")
    t["control_results"] = [{"id": i + 1, "org_id": ORG, "year": YEAR, "routine": code,
                             "checked": "Stickprov om 25 ärenden.", "method": f"Intervju med {someone} och stickprov.",
                             "result": ("ok", "deficiency", "ok", "serious", "ok")[i],
                             "findings": "Tre av 25 behörigheter saknade beslut.", "updated_by": n_dep + 1,
                             "updated_at": upd} for i, code in enumerate(routines)]
    t["dpo_findings"] = [{"id": i + 1, "org_id": ORG, "year": YEAR, "area": area, "grade": (3, 2, 3, 4, 3, 2)[i],
                          "findings": "Registerförteckningen är inte komplett.", "recommendations": "Komplettera.",
                          "updated_by": n_dep + 6, "updated_at": upd}
                         for i, area in enumerate(("registerforteckning", "styrdokument", "tekniska_organisatoriska",
                                                   "konsekvensbedomningar", "individens_rattigheter",
                                                   "personuppgiftsincidenter"))]
    t["risk_analyses"] = [{"id": 1, "org_id": ORG, "year": YEAR, "cycle": "2025–2026",
                           "summary": "RSA genomförd i alla förvaltningar.", "processes_with_risks": 212,
                           "action_plans": 140, "continuity_plans": 96, "updated_by": n_dep + 1, "updated_at": upd}]
    t["audit_findings"] = [{"id": i + 1, "org_id": ORG, "year": YEAR, "source": "Internrevisionen",
                            "finding": f"Iakttagelse {i + 1}: loggar granskas inte regelbundet.",
                            "severity": ("observation", "low", "medium", "high", "serious")[i % 5],
                            "corrective_action": "Inför månatlig logggranskning.",
                            "status": ("open", "in_progress", "done")[i % 3], "due": date(YEAR + 1, 6, 30),
                            "updated_at": upd} for i in range(12)]
    t["reviews"] = [{"id": 1, "org_id": ORG, "year": YEAR - 1, "status": "published", "inputs": {"year": YEAR - 1},
                     "markdown": "# Ledningens genomgång", "pdf": None, "docx": None,
                     "created_at": at(date(YEAR - 1, 12, 10)), "created_by": n_dep + 1,
                     "published_at": at(date(YEAR - 1, 12, 12)), "published_by": n_dep + 1}]
    t["review_decisions"] = [{"id": i + 1, "review_id": 1, "org_id": ORG,
                              "decision": f"Beslut {i + 1}: alla förvaltningar ska ha en utsedd samordnare.",
                              "owner": "Stadsdirektören", "due": date(YEAR, 6, 30), "recorded_by": 1,
                              "recorded_at": at(date(YEAR - 1, 12, 15)), "source_key": f"bench-decision-{i}"}
                             for i in range(6)]
    t["plan_activities"] = [
        {"id": i + 1, "org_id": ORG, "year": YEAR + (i % 4), "title": f"Aktivitet {i + 1}: kontinuitetsplaner för "
         f"kritiska system", "owner": "Informationssäkerhetssamordnaren", "priority": 1 + i % 3,
         "status": ("planned", "in_progress", "done", "postponed")[i % 4], "origin": "coordinator",
         "decision_id": None, "updated_at": upd} for i in range(24)]
    t["plan_activities"] += [{"id": 25 + i, "org_id": ORG, "year": YEAR, "title": d["decision"], "owner": d["owner"],
                              "priority": 1, "status": ("done", "in_progress")[i % 2], "origin": "review_decision",
                              "decision_id": d["id"], "updated_at": upd} for i, d in enumerate(t["review_decisions"])]
    t["context_notes"] = [{"id": i + 1, "org_id": ORG, "year": YEAR,
                           "kind": ("external", "internal", "interested_parties", "feedback")[i % 4],
                           "text": "NIS2 gäller från i år och kräver incidentrapportering inom 24 timmar.",
                           "updated_at": upd}
                          for i in range(10)]
    proposals = []
    for i in range(max(30, people // 150)):
        status = r.choices(("new", "accepted", "rejected", "done"), (30, 30, 15, 25))[0]
        proposals.append({"id": i + 1, "org_id": ORG, "submitted_by": r.randint(1, people),
                          "text": "Kan vi få en kortare lathund för att rapportera incidenter?",
                          "submitted_at": START + timedelta(seconds=r.random() * span), "status": status,
                          "triage_note": "Lathund tas fram av samordnaren." if status != "new" else None,
                          "triaged_by": n_dep + 1 if status != "new" else None,
                          "triaged_at": NOW - timedelta(days=5) if status != "new" else None,
                          "source_key": f"bench-proposal-{i}"})
    t["improvement_proposals"] = proposals
    return t


async def fill(url: str, people: int, assets: int, incidents: int) -> tuple[int, float]:
    """Migrate a fresh database and fill it; (rows inserted, seconds)."""
    from sqlalchemy import insert, text
    from storage.db import Database
    from storage.models import Base

    db = Database(url)
    try:
        await db.upgrade()
        begin = time.perf_counter()
        data = make_data(people, assets, incidents)
        total = 0
        async with db.engine.begin() as conn:
            for name, rows in data.items():
                table = Base.metadata.tables[name]
                for part in chunks(rows):
                    await conn.execute(insert(table), part)
                total += len(rows)
            if not db.is_sqlite:
                for name, rows in data.items():
                    table = Base.metadata.tables[name]
                    if "id" in table.c and rows and "id" in rows[0]:
                        await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                                f"(SELECT max(id) FROM {name}))"))
        if not db.is_sqlite:  # what autovacuum would have done on a database this old
            async with db.engine.connect() as conn:
                await conn.execute(text("COMMIT"))
                await conn.execute(text("ANALYZE"))
        return total, time.perf_counter() - begin
    finally:
        await db.close()


# ---------------------------------------------------------------------------------------------- measurement

class Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, *_args) -> None:
        self.n += 1


class Steps:
    """Wraps functions in this process only, to attribute time, statements and rows to each step."""

    def __init__(self, counter: Counter) -> None:
        self.counter, self.rows, self.stack, self.undo = counter, {}, [], []

    def _enter(self, label: str):
        path = tuple(self.stack) + (label,)
        self.rows.setdefault(" / ".join(path), {"depth": len(self.stack), "name": label, "calls": 0, "s": 0.0,
                                                "q": 0, "rows": None})
        self.stack.append(label)
        return path, time.perf_counter(), self.counter.n

    def _leave(self, start, result) -> None:
        path, t0, q0 = start
        self.stack.pop()
        row = self.rows[" / ".join(path)]
        row["calls"] += 1
        row["s"] += time.perf_counter() - t0
        row["q"] += self.counter.n - q0
        if isinstance(result, (list, dict)) and path[-1].startswith(("q.", "store.", "facts.")):
            row["rows"] = (row["rows"] or 0) + len(result)

    def wrap(self, owner, name: str, label: str) -> None:
        fn = getattr(owner, name)
        steps = self
        if asyncio.iscoroutinefunction(fn):
            async def wrapper(*args, **kwargs):
                if label in steps.stack:  # a recursive call: counted in the outer one
                    return await fn(*args, **kwargs)
                start = steps._enter(label)
                result = None
                try:
                    result = await fn(*args, **kwargs)
                    return result
                finally:
                    steps._leave(start, result)
        else:
            def wrapper(*args, **kwargs):
                if label in steps.stack:
                    return fn(*args, **kwargs)
                start = steps._enter(label)
                result = None
                try:
                    result = fn(*args, **kwargs)
                    return result
                finally:
                    steps._leave(start, result)
        setattr(owner, name, wrapper)
        self.undo.append((owner, name, fn))

    def restore(self) -> None:
        for owner, name, fn in reversed(self.undo):
            setattr(owner, name, fn)
        self.undo.clear()


def instrument(steps: Steps) -> None:
    import handlers.coverage as cov
    import handlers.review_data as rd
    import storage.assets as assets
    import storage.coverage_queries as columns
    import storage.facts as facts
    import storage.review_queries as q

    steps.wrap(rd.Scrubber, "__init__", "Scrubber(): a set of every person's name")
    for name in ("incidents_per_month_and_kind", "incidents_by_status_and_severity", "personal_data_timeliness",
                 "work_environment_serious", "lessons_learned", "training_by_department", "training_campaign",
                 "earlier_decisions"):
        steps.wrap(q, name, f"q.{name}")
    steps.wrap(rd, "_classification", "_classification → coverage()")
    for name in ("register", "action_counts", "round_count", "round_answers"):
        steps.wrap(columns, name, f"q.{name}")
    steps.wrap(assets, "department_names", "store.department_names")
    steps.wrap(cov, "routine", "coverage.routine")
    steps.wrap(rd, "_facts", "_facts → facts_for_review() + scrub")
    steps.wrap(rd, "facts_for_review", "facts_for_review")
    for name in ("control_results", "dpo_findings", "risk_analysis", "audit_findings", "plan_activities",
                 "context_notes", "proposal_counts", "proposals"):
        steps.wrap(facts, name, f"facts.{name}")
    steps.wrap(rd, "_scrubbed", "_scrubbed (facts texts)")
    steps.wrap(rd.Scrubber, "__call__", "scrub() calls (all)")
    steps.wrap(rd, "_incidents", "_incidents (python)")
    steps.wrap(rd, "_training", "_training (python)")


def rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_rss_peak() -> None:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def rss_peak_mb() -> float:
    """Peak RSS since the last reset. getrusage's ru_maxrss is the same figure, except that Linux carries the
    parent's peak across fork and exec into it and it cannot be reset: in this child it would show the
    generator's peak. VmHWM starts afresh at exec and can be reset per phase."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(url: str, runs: int, profile: str | None) -> dict:
    from sqlalchemy import event

    from bot.clock import FrozenClock
    from bot.config import load_settings
    from bot.i18n import Texts
    from handlers import review, review_data
    from handlers.services import Services
    from storage.db import Database

    settings = load_settings(env_file=None, DATABASE_URL=url)
    db = Database(url)
    svc = Services(db=db, texts=Texts(default_lang=settings.language), clock=FrozenClock(NOW), settings=settings)
    counter = Counter()
    event.listen(db.engine.sync_engine, "before_cursor_execute", counter)
    out: dict = {"rss_base_mb": rss_now_mb()}

    async def once() -> tuple[float, int, dict]:
        re.purge()  # no compiled pattern carried over from the run before: each run pays as a first one would
        gc.collect()
        q0 = counter.n
        t0 = time.perf_counter()
        inputs = await review_data.gather(svc, ORG, YEAR)
        return time.perf_counter() - t0, counter.n - q0, inputs

    try:
        reset_rss_peak()
        out["cold_s"], out["cold_q"], inputs = await once()
        out["rss_first_mb"] = rss_peak_mb()
        reset_rss_peak()
        times, counts = [], []
        for _ in range(runs):
            s, n, inputs = await once()
            times.append(s)
            counts.append(n)
        out["times"], out["counts"] = times, counts
        out["rss_peak_mb"] = rss_peak_mb()
        out["inputs_kb"] = len(json.dumps(inputs, ensure_ascii=False)) / 1024
        out["check"] = {"incidents": inputs["incidents"]["total"], "personal": inputs["incidents"]["personal_data"],
                        "training": inputs["training"]["overall"]["audience"],
                        "assets": (inputs["classification"] or {}).get("assets"), "lights": inputs["lights"]}

        gc.collect()
        re.purge()
        tracemalloc.start()
        await review_data.gather(svc, ORG, YEAR)
        out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()

        steps = Steps(counter)
        instrument(steps)
        re.purge()
        q0, t0 = counter.n, time.perf_counter()
        await review_data.gather(svc, ORG, YEAR)
        out["steps_total_s"], out["steps_total_q"] = time.perf_counter() - t0, counter.n - q0
        steps.restore()
        out["steps"] = steps.rows

        if profile:
            re.purge()
            prof = cProfile.Profile()
            prof.enable()
            await review_data.gather(svc, ORG, YEAR)
            prof.disable()
            prof.dump_stats(profile)
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf)
            stats.sort_stats("tottime").print_stats(12)
            stats.sort_stats("cumulative").print_stats(r"/(handlers|storage)/", 16)
            out["profile"] = buf.getvalue()

        gc.collect()
        reset_rss_peak()
        out["rss_before_documents_mb"] = rss_now_mb()
        t0 = time.perf_counter()
        docs = review.documents(svc, svc.org_lang, inputs)
        out["documents_s"] = time.perf_counter() - t0
        out["documents"] = {"markdown_kb": len(docs.markdown) / 1024, "pdf_kb": len(docs.pdf) / 1024,
                            "docx_kb": len(docs.docx) / 1024}
        out["rss_documents_mb"] = rss_peak_mb()
    finally:
        await db.close()
    return out


# ---------------------------------------------------------------------------------------------- driver

async def pg_admin(server_url: str, sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(server_url)
    conn = await asyncpg.connect(host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username or "postgres",
                                 password=u.password, database=u.database or "postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def bench_url(server_url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(server_url).set(drivername="postgresql", database=BENCH_DB).render_as_string(hide_password=False)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_child(url: str, runs: int, profile: str | None) -> dict:
    cmd = [sys.executable, __file__, "--_measure", url, "--runs", str(runs)]
    if profile:
        cmd += ["--profile", profile]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_database(target: str, sizes: list[tuple[float, int, int, int]], runs: int, profile: str | None) -> None:
    is_pg = target != "sqlite"
    label = "PostgreSQL" if is_pg else "SQLite (temp file)"
    results = []
    for scale, people, assets, incidents in sizes:
        tmp = None
        if is_pg:
            asyncio.run(pg_admin(target, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"))
            asyncio.run(pg_admin(target, f"CREATE DATABASE {BENCH_DB}"))
            url = bench_url(target)
        else:
            tmp = tempfile.TemporaryDirectory(prefix="lisbot-bench-review-")
            url = f"sqlite:///{tmp.name}/review.db"
        try:
            print(f"[{label}] scale {scale:g}: generating {people} people, {assets} assets, {incidents} incidents "
                  f"(load {load()})", file=sys.stderr, flush=True)
            rows, gen_s = asyncio.run(fill(url, people, assets, incidents))
            print(f"[{label}] scale {scale:g}: {rows} rows in {gen_s:.1f} s; measuring (load {load()})",
                  file=sys.stderr, flush=True)
            load_before = load()
            prof = f"{profile}-{'pg' if is_pg else 'sqlite'}-{scale:g}.prof" if profile else None
            res = run_child(url, runs, prof)
            res.update(scale=scale, people=people, assets=assets, incidents=incidents, rows=rows, gen_s=gen_s,
                       load_before=load_before, load_after=load())
            if not is_pg:
                res["db_mb"] = os.path.getsize(f"{tmp.name}/review.db") / 2**20
            results.append(res)
        finally:
            if is_pg:
                asyncio.run(pg_admin(target, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"))
            if tmp:
                tmp.cleanup()
    report(label, results, runs)


def report(label: str, results: list[dict], runs: int) -> None:
    heads = [f"scale {r['scale']:g}" for r in results]
    w = 22
    lines = []

    def row(name: str, values) -> None:
        lines.append(f"{name:<40}" + "".join(f"{v:>{w}}" for v in values))

    print(f"\n=== {label}: management review {YEAR}, data part = handlers.review_data.gather ===")
    print(f"CPU cores: {os.cpu_count()}; load average (1/5/15 min) shown per run; target ~1 s for the data part")
    row("", heads)
    row("people / assets / incidents", [f"{r['people']}/{r['assets']}/{r['incidents']}" for r in results])
    row("rows generated", [r["rows"] for r in results])
    row("generation + inserts (s)", [f"{r['gen_s']:.1f}" for r in results])
    row("load average before measuring", [r["load_before"] for r in results])
    row("data part, cold first run (s)", [f"{r['cold_s']:.3f}" for r in results])
    row(f"data part, min of {runs} (s)", [f"{min(r['times']):.3f}" for r in results])
    row(f"data part, median of {runs} (s)", [f"{statistics.median(r['times']):.3f}" for r in results])
    row("SQL statements per gather", ["/".join(sorted({str(c) for c in r["counts"]})) for r in results])
    row("tracemalloc peak, data part (MB)", [f"{r['traced_peak_mb']:.1f}" for r in results])
    row("RSS before the first gather (MB)", [f"{r['rss_base_mb']:.0f}" for r in results])
    row("RSS peak, cold run (MB)", [f"{r['rss_first_mb']:.0f}" for r in results])
    row(f"RSS peak, {runs} timed runs (MB)", [f"{r['rss_peak_mb']:.0f}" for r in results])
    row("inputs as JSON (kB)", [f"{r['inputs_kb']:.0f}" for r in results])
    row("document part, once (s)", [f"{r['documents_s']:.2f}" for r in results])
    row("markdown / pdf / docx (kB)", [f"{r['documents']['markdown_kb']:.0f}/{r['documents']['pdf_kb']:.0f}/"
                                        f"{r['documents']['docx_kb']:.0f}" for r in results])
    row("RSS before / peak, document part (MB)", [f"{r['rss_before_documents_mb']:.0f}/{r['rss_documents_mb']:.0f}"
                                                  for r in results])
    row("load average after", [r["load_after"] for r in results])
    print("\n".join(lines))
    counts = [r["counts"][0] for r in results]
    grows = len(set(counts)) > 1
    best = min(results[-1]["times"])
    verdict = ("GROWS with the data: " + " -> ".join(map(str, counts)) if grows else
               f"constant: {counts[0]}" if len(counts) > 1 else f"{counts[0]} (one scale only: run two to compare)")
    print(f"query count {verdict}"
          f"; data part at scale {results[-1]['scale']:g}: {best:.2f} s (min) — "
          f"{'within' if best <= 1.2 else 'MISSES'} the ~1 s target")
    print("sanity:", "; ".join(f"scale {r['scale']:g}: {r['check']}" for r in results))

    # Per step, from one instrumented run per scale (wrapping costs a little; totals shown).
    print(f"\n--- {label}: where the data part goes (one instrumented run per scale; inclusive times) ---")
    order = list(results[-1]["steps"])
    hdr = f"{'step':<52}" + "".join(f"{'ms@' + format(r['scale'], 'g'):>10}{'SQL':>6}{'rows':>8}" for r in results)
    print(hdr)
    for name in order:
        depth, step = results[-1]["steps"][name]["depth"], results[-1]["steps"][name]["name"]
        cells = ""
        for r in results:
            s = r["steps"].get(name)
            if s is None:
                cells += f"{'':>10}{'':>6}{'':>8}"
                continue
            rows = "" if s["rows"] is None else str(s["rows"])
            calls = f"×{s['calls']} " if s["calls"] > 1 else ""
            cells += f"{calls + format(1000 * s['s'], '.0f'):>10}{s['q']:>6}{rows:>8}"
        print(f"{'  ' * depth + step:<52}" + cells)
    rest = ""
    for r in results:
        top = sum(s["s"] for s in r["steps"].values() if s["depth"] == 0)
        topq = sum(s["q"] for s in r["steps"].values() if s["depth"] == 0)
        rest += f"{1000 * (r['steps_total_s'] - top):>10.0f}{r['steps_total_q'] - topq:>6}{'':>8}"
    print(f"{'rest of gather (org, names query, assembling)':<52}" + rest)
    print(f"{'TOTAL (instrumented run)':<52}" + "".join(
        f"{1000 * r['steps_total_s']:>10.0f}{r['steps_total_q']:>6}{'':>8}" for r in results))
    for r in results:
        if r.get("profile"):
            print(f"\n--- {label}: cProfile of one gather at scale {r['scale']:g} (top by own time) ---")
            print("\n".join(line for line in r["profile"].splitlines() if line.strip()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=50_000)
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--incidents", type=int, default=100_000)
    ap.add_argument("--database", action="append",
                    help="'sqlite' (a temporary file; the default) or a PostgreSQL server URL; may be repeated")
    ap.add_argument("--scales", default="0.1,1", help="fractions of the sizes to run at (default 0.1,1)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of the data part after a cold one")
    ap.add_argument("--profile", help="write a cProfile of one gather per run to PREFIX-<db>-<scale>.prof")
    ap.add_argument("--_measure", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._measure:
        print(json.dumps(asyncio.run(measure(args._measure, args.runs, args.profile))))
        return
    sizes = [(s, max(1, round(args.people * s)), max(1, round(args.assets * s)), max(1, round(args.incidents * s)))
             for s in (float(x) for x in args.scales.split(","))]
    print(f"lisbot review benchmark — python {sys.version.split()[0]}, {os.cpu_count()} cores, load {load()}",
          flush=True)
    for target in args.database or ["sqlite"]:
        if target != "sqlite" and not target.startswith(("postgresql", "postgres")):
            ap.error(f"--database: 'sqlite' or a postgresql:// URL, not {target!r}")
        one_database(target, sizes, args.runs, args.profile)


if __name__ == "__main__":
    main()
