#!/usr/bin/env python3
"""Deterministic generator for LoRA Workbench's shipped sample data.

What it makes (all paths relative to ``--out``, default: the ``sample_data``
folder this script lives in):

* ``data/train.jsonl`` (3000), ``data/validation.jsonl`` (300) and
  ``data/test.jsonl`` (300): short chat conversations between employees of
  the fictional company *Northwind Robotics* and its internal assistant
  "Nora".  One conversation per line, in the common chat format
  ``{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}]}``.
  About 25% start with a short system message and about 25% are multi-turn
  (2-3 user/assistant exchanges whose follow-ups refer back).  Topics cover
  HR, IT and engineering, plus edge cases (contractors, part-time staff,
  people abroad, urgent after-hours problems, requests that must be declined
  or redirected).
* ``corpus/company_docs.txt``: a plain-text pretraining corpus (about 2 MB) of
  company *documents* (handbook sections, policy pages, IT how-tos,
  engineering wiki pages, announcements, meeting notes, business prose),
  one document per block, blocks separated by a blank line.  It never contains
  the ``[INST]`` chat markup.
* ``make/data_stats.json``: counts, lengths, planted duplicates, corpus size
  and SHA-256 of every output file.

Why: the workbench fine-tunes a small base model (256-token context) with
LoRA.  A base model pretrained on the corpus knows the company vocabulary and
some facts but not the chat format; fine-tuning on the conversations teaches
the format and the facts.  Every answer is rendered from one fixed table of
company FACTS, so the same fact is always stated the same way, and questions
are rendered from templates x synonyms x names x slots, so the held-out
splits are *new phrasings of known facts*: no conversation appears in two
splits, and no validation/test opening question (after normalising case,
punctuation and spacing) also opens a training conversation.

The training split deliberately contains about 1% exact duplicates and about
1% near-duplicates (one small edit: punctuation, casing or one word), so a
de-duplication feature has something to find; their line numbers are listed
in the stats file.  Note that template data also contains *natural* close
neighbours (two conversations differing in one synonym); only the planted ones
are counted.

Determinism: everything is drawn from ``random.Random(seed)`` in a fixed
order; no output depends on ``hash()`` or set iteration order, and JSON is
written with fixed separators.  Running the script twice with the same seed
produces byte-identical files.

Usage::

    python3 sample_data/make/generate_data.py [--seed 1234] [--out sample_data]
    python3 sample_data/make/generate_data.py --check [--out sample_data]

``--check`` only validates existing outputs (JSON parses, roles alternate,
split sizes, no cross-split duplicates, no chat markup in the corpus) and
exits non-zero on a problem.  Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import re
import sys
from pathlib import Path

GENERATOR_VERSION = 1
DEFAULT_SEED = 1234

N_TRAIN = 3000
N_VALID = 300
N_TEST = 300
N_EXACT_DUP = 30  # ~1% of train
N_NEAR_DUP = 30  # ~1% of train
P_SYSTEM = 0.25
P_MULTI = 0.25
MAX_CONV_CHARS = 1000
CORPUS_TARGET_BYTES = 2_000_000

# ---------------------------------------------------------------------------
# The fixed table of company facts.  Every answer and most corpus documents are
# rendered from these values, so they are stated consistently everywhere.
# ---------------------------------------------------------------------------
FACTS: dict[str, object] = {
    "company": "Northwind Robotics",
    "assistant": "Nora",
    "hq": "Portland, Oregon",
    "offices_list": "Portland, Austin, Lisbon and Toronto",
    "amr": "Tern",
    "arm": "Heron",
    "fleet_sw": "Kestrel",
    "headcount": "about 850",
    # HR
    "pto_days": 25,
    "pto_carry": 5,
    "carry_deadline": "March 31",
    "pto_notice": "two weeks",
    "sick_days": 10,
    "note_after": 3,
    "parental_weeks": 18,
    "parental_months": 6,
    "parental_notice": "8 weeks",
    "hr_portal": "Harbor",
    "hr_url": "harbor.northwind.internal",
    "hr_email": "people@northwindrobotics.com",
    "hr_slack": "#ask-people",
    "payroll_email": "payroll@northwindrobotics.com",
    "expense_tool": "Ledgerly",
    "expense_days": 30,
    "receipt_min": "$25",
    "per_diem": "$60",
    "finance_limit": "$2,000",
    "travel_tool": "TripDesk",
    "payday": "25th",
    "health": "Cascade Health",
    "enrol_days": 30,
    "match": "4%",
    "wellness": "$600",
    "learning": "$1,500",
    "home_office": "$500",
    "benefits_hours": 20,
    "review_months": "April and October",
    "anchor_days": "Tuesday and Thursday",
    "abroad_days": 20,
    "abroad_notice": "two weeks",
    "ethics_line": "SpeakUp",
    # IT
    "helpdesk_ext": "4357",
    "helpdesk_email": "helpdesk@northwindrobotics.com",
    "servicedesk": "ServiceDesk",
    "servicedesk_url": "help.northwind.internal",
    "helpdesk_hours": "8:00 to 18:00 Pacific, Monday to Friday",
    "it_after_hours": "+1 503 555 0142",
    "vpn_client": "Wirepath",
    "vpn_gateway": "vpn.northwindrobotics.com",
    "id_portal": "id.northwind.internal",
    "pw_min": 14,
    "pw_expiry": 180,
    "mfa_app": "Northwind Verify",
    "temp_code_hours": 24,
    "laptop_eng": "14-inch MacBook Pro",
    "laptop_std": "ThinkPad X1 Carbon",
    "laptop_days": 5,
    "laptop_refresh": 3,
    "wifi_corp": "NW-Corp",
    "wifi_guest": "NW-Guest",
    "print_queue": "NW-FollowMe",
    "phish_email": "phish@northwindrobotics.com",
    "security_email": "security@northwindrobotics.com",
    "licence_days": 5,
    # Engineering
    "ci": "Forge",
    "ci_minutes": 12,
    "ci_channel": "#ci-health",
    "approvals": "one",
    "approvals_safety": "two",
    "safety_path": "fleet/motion",
    "pr_lines": 400,
    "review_sla": "one business day",
    "deploy_tool": "Launchpad",
    "window": "Monday to Thursday, 09:00 to 16:00 Pacific",
    "friday_cutoff": "14:00",
    "holiday_freeze": "December 18 to January 2",
    "pager": "Beacon",
    "oncall_start": "Monday at 10:00 Pacific",
    "ack_minutes": 5,
    "oncall_stipend": "$300",
    "incident_channel": "#incidents",
    "postmortem_days": 5,
    "wiki": "Compass",
    "catalog": "Atlas",
    "monitoring": "Lighthouse",
    "git_host": "git.northwind.internal",
    "monorepo": "fleet",
    "infra_repo": "nw-infra",
    "ticket_project": "FLT",
    "eng_help": "#eng-help",
}

# ---------------------------------------------------------------------------
# Vocabulary for slots.
# ---------------------------------------------------------------------------
FIRST_NAMES = [
    "Priya", "Marcus", "Ana", "João", "Wei", "Fatima", "Liam", "Sofia", "Kenji",
    "Amara", "Diego", "Hannah", "Omar", "Chloe", "Raj", "Elena", "Tomás",
    "Grace", "Yusuf", "Mei", "Lucas", "Zoë", "Ibrahim", "Nadia", "Ethan",
    "Aisha", "Mateo", "Ingrid", "Kwame", "Leila", "Noah", "Beatriz", "Arjun",
    "Olivia", "Sven", "Camila", "Daniel", "Yuki", "Rosa", "Samuel", "Hana",
    "Felix", "Maya", "Tariq", "Clara", "Andrei", "Nia", "Pedro", "Emma", "Ravi",
    "Lena", "Kofi", "Isabel", "Jonas", "Sara", "Victor", "Ada", "Miguel",
    "Freya", "Hugo",
]
LAST_NAMES = [
    "Patel", "Okafor", "Silva", "Chen", "Haddad", "Murphy", "Rossi", "Tanaka",
    "Mensah", "Garcia", "Schmidt", "Nguyen", "Costa", "Kowalski", "Singh",
    "Larsen", "Moreau", "Ali", "Fernandes", "O'Brien", "Kim", "Novak",
    "Adeyemi", "Santos", "Walker", "Ivanova", "Lopes", "Berg", "Hassan",
    "Dubois",
]
OFFICES = ["Portland", "Austin", "Lisbon", "Toronto"]
TEAMS = [
    "Firmware", "Fleet Software", "Perception", "Platform", "Finance", "People",
    "Sales", "Customer Support", "Manufacturing", "Supply Chain", "Design",
    "Data", "QA", "Marketing", "Field Service", "Security", "IT",
]
ENG_TEAMS = ["Firmware", "Fleet Software", "Perception", "Platform", "Data", "QA", "Security"]
COUNTRIES = [
    "Spain", "Japan", "Brazil", "Germany", "India", "Mexico", "Italy", "Ireland",
    "Poland", "Kenya", "the UK", "France", "Vietnam", "Greece", "Morocco",
]
SOFTWARE = [
    "Figma", "CLion", "MATLAB", "SolidWorks", "Tableau", "Adobe Acrobat Pro",
    "Postman", "Miro", "Altium Designer", "DataGrip", "Lucidchart", "Sketch",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
]

# Synonym slots, written as <name> in question templates.
SYN: dict[str, list[str]] = {
    "pto": ["PTO", "vacation days", "holiday days", "annual leave days", "paid days off", "days off", "leave days"],
    "pto_mass": ["PTO", "vacation", "annual leave", "paid time off", "holiday allowance", "time off"],
    "get": ["get", "have", "receive"],
    "can": ["Can", "Could"],
    "how_do_i": ["How do I", "How can I", "What's the way to", "How should I"],
    "where_do_i": ["Where do I", "Where can I", "Where should I"],
    "want": ["want", "need", "would like", "am hoping"],
    "laptop": ["laptop", "work laptop", "computer", "machine", "notebook"],
    "manager": ["manager", "boss", "team lead", "line manager"],
    "request": ["request", "book", "apply for", "ask for"],
    "submit": ["submit", "file", "send in", "put in"],
    "expenses": ["expenses", "an expense claim", "an expense report", "my receipts"],
    "pw": ["password", "Northwind ID password", "login password", "account password"],
    "the_vpn": ["the VPN", "Wirepath", "the Wirepath VPN", "our VPN", "VPN"],
    "broken": ["isn't working", "keeps failing", "is broken", "won't work", "stopped working"],
    "urgent": ["urgent", "really urgent", "an emergency", "time-critical"],
    "mr": ["PR", "MR", "merge request", "pull request"],
    "prod": ["production", "prod", "the production environment"],
    "deploy": ["deploy", "ship", "release", "push"],
    "wfh": ["work from home", "work remotely", "WFH"],
    "office": ["office", "workplace"],
    "quickly": ["quickly", "fast", "soon"],
    "payday": ["payday", "pay day", "salary day"],
    "salary": ["salary", "pay", "paycheck", "wages"],
    "phishing": ["phishing email", "suspicious email", "scam email", "dodgy email", "weird email"],
    "health_ins": ["health insurance", "medical insurance", "health cover", "health plan"],
}

SYN_RE = re.compile(r"<([a-z_]+)>")


def render(template: str, rng: random.Random, values: dict) -> str:
    """Fill {fact}/{slot} placeholders, then <synonym> slots (in text order)."""
    text = template.format_map(values)
    return SYN_RE.sub(lambda m: rng.choice(SYN[m.group(1)]), text)


# ---------------------------------------------------------------------------
# Intents.  q: question templates, a: answer variants (state the facts),
# f: follow-ups (question variants, answer variants) that refer back,
# slots: optional function drawing slot values (may override answers via "_a").
# ---------------------------------------------------------------------------
INTENTS: list[dict] = []


def intent(iid, cat, q, a, f=(), slots=None, intro=True, weight=1.0):
    INTENTS.append({"id": iid, "cat": cat, "q": q, "a": a, "f": list(f),
                    "slots": slots, "intro": intro, "weight": weight})


# --- slot functions --------------------------------------------------------

def slots_carryover(rng):
    n = rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 10, 12])
    if n <= 5:
        a = [
            "Yes, all {n} days carry over, because the limit is {pto_carry} days. Carried-over days must be used by {carry_deadline}.",
            "All {n} of them roll over: you can carry up to {pto_carry} unused days into next year. Just use them by {carry_deadline}.",
        ]
    else:
        a = [
            "Only {pto_carry} of your {n} days carry over into next year; the other {rest} are forfeited at year end. Carried-over days must be used by {carry_deadline}.",
            "The carry-over limit is {pto_carry} days, so {pto_carry} roll over and {rest} are lost if you don't use them this year. Plan the extra days off soon.",
        ]
    return {"n": n, "rest": n - 5, "_a": a}


def slots_part_time(rng):
    n = rng.choice([2, 3, 4])
    return {"n": n, "pt": 25 * n // 5, "sick_pt": 10 * n // 5}


def slots_parental(rng):
    m = rng.choice([2, 3, 4, 5, 7, 8, 10, 14, 18, 24, 30])
    if m >= 6:
        a = [
            "Yes. With {m} months of service you meet the {parental_months}-month requirement, so you get {parental_weeks} weeks of fully paid parental leave. Congratulations!",
            "You qualify: the requirement is {parental_months} months of employment and you have {m}. That means {parental_weeks} weeks fully paid, taken within 12 months of the birth.",
        ]
    else:
        a = [
            "Not yet for the paid policy: it needs {parental_months} months of service and you have {m}. Please contact {hr_email}, as you may still have statutory leave where you live.",
            "The {parental_weeks} weeks of paid leave start after {parental_months} months of employment, so at {m} months you're not eligible yet. {hr_email} can check what local statutory leave applies.",
        ]
    return {"m": m, "_a": a}


RECEIPT_ITEMS = ["a taxi", "parking", "a team lunch", "a USB-C adapter", "a train ticket",
                 "coffee with a candidate", "a technical book", "a hotel night", "airport snacks",
                 "a conference badge", "printer paper", "a client dinner"]


def slots_receipt(rng):
    amt = rng.choice([4, 7, 9, 12, 15, 18, 22, 24, 26, 30, 38, 45, 60, 85, 120, 240])
    item = rng.choice(RECEIPT_ITEMS)
    if amt > 25:
        a = ["Yes. Anything over {receipt_min} needs a receipt attached in {expense_tool}, so please upload a photo of it.",
             "Yes, ${amt} is over the {receipt_min} threshold, so attach the receipt to the claim in {expense_tool}."]
    else:
        a = ["No, receipts are only required for amounts over {receipt_min}, so ${amt} is fine without one. Add a short description in {expense_tool}.",
             "Not for ${amt}: the receipt threshold is {receipt_min}. Just describe the purchase when you claim it in {expense_tool}."]
    return {"amt": amt, "item": item, "_a": a}


def slots_payday(rng):
    month = rng.choice(MONTHS)
    wd = rng.choice(DAYS)
    if wd == "Saturday":
        a = ["When the {payday} falls on a Saturday you're paid on the previous business day, so on Friday the 24th.",
             "You'll be paid on Friday the 24th: if the {payday} is a weekend day, payroll runs on the business day before."]
    elif wd == "Sunday":
        a = ["When the {payday} falls on a Sunday you're paid on the previous business day, so on Friday the 23rd.",
             "You'll be paid on Friday the 23rd, because a weekend {payday} moves payday to the previous business day."]
    else:
        a = ["On the {payday} as usual, since it's a business day. Only when it falls on a weekend or public holiday is pay moved to the previous business day.",
             "The {payday} is a {wd}, so salaries arrive that day as normal."]
    return {"month": month, "wd": wd, "_a": a}


def slots_deploy(rng):
    day = rng.choice(DAYS)
    hh = rng.choice([7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 22])
    mm = rng.choice([0, 0, 15, 30, 45])
    t24 = f"{hh:02d}:{mm:02d}"
    if rng.random() < 0.4:
        h12 = hh % 12 or 12
        suffix = "am" if hh < 12 else "pm"
        shown = f"{h12}{suffix}" if mm == 0 else f"{h12}:{mm:02d}{suffix}"
    else:
        shown = t24
    minutes = hh * 60 + mm
    if day in ("Saturday", "Sunday"):
        a = ["No. Weekends are inside the deploy freeze; the window is {window}, and Fridays until {friday_cutoff}. Urgent hotfixes need incident commander approval.",
             "Not on a {day}: there are no production deploys at weekends. Use {deploy_tool} during {window}, or Friday before {friday_cutoff}."]
    elif day == "Friday":
        if minutes < 9 * 60:
            a = ["No, {t} is before the deploy window opens at 09:00. On Fridays you can deploy from 09:00 until {friday_cutoff} Pacific.",
                 "Too early: deploys start at 09:00 Pacific. On a Friday you then have until {friday_cutoff} before the freeze."]
        elif minutes < 14 * 60:
            a = ["Yes, Friday deploys are allowed until {friday_cutoff} Pacific, so {t} is fine. Make sure you can watch {monitoring} afterwards.",
                 "Yes, {t} on Friday is inside the window; the Friday freeze only starts at {friday_cutoff}. Deploy with {deploy_tool} as usual."]
        else:
            a = ["No. The deploy freeze starts on Fridays at {friday_cutoff}, so {t} is too late. Wait until Monday, or get incident commander approval for a hotfix.",
                 "That's inside the Friday freeze (from {friday_cutoff}). Ship it Monday morning instead; only approved hotfixes go out during a freeze."]
    else:
        if 9 * 60 <= minutes < 16 * 60:
            a = ["Yes, {day} at {t} is inside the deploy window ({window}). Deploy through {deploy_tool}.",
                 "Yes, that works: {day} deploys are allowed between 09:00 and 16:00 Pacific. Use {deploy_tool} and keep an eye on {monitoring}."]
        else:
            a = ["No, {t} is outside the deploy window, which is {window}. Move it into working hours, or get incident commander approval if it's a hotfix.",
                 "Not at {t}: on {day} the window runs from 09:00 to 16:00 Pacific. Deploys outside it need incident commander approval."]
    return {"day": day, "time": shown, "t": t24, "_a": a}


def slots_country(rng):
    return {"country": rng.choice(COUNTRIES)}


def slots_software(rng):
    return {"software": rng.choice(SOFTWARE)}


def slots_laptop_age(rng):
    y = rng.choice([1, 2, 3, 4, 5])
    if y >= 3:
        a = ["Yes, laptops are refreshed every {laptop_refresh} years, so at {y} years you're due. Request a replacement in {servicedesk_url} under Hardware.",
             "You're due: the refresh cycle is {laptop_refresh} years. Open a Hardware request in {servicedesk_url}; delivery takes about {laptop_days} business days."]
    else:
        a = ["Not yet, the refresh cycle is {laptop_refresh} years. If it's slow or faulty at {y} years, open a ticket in {servicedesk_url} and IT will repair or swap it.",
             "At {y} years it isn't due for refresh (every {laptop_refresh} years), but IT will fix or replace a faulty machine. Open a ticket at {servicedesk_url}."]
    return {"y": y, "_a": a}


TOOLS = {
    "Atlas": ("our service catalog: it lists every service, its owning team, on-call rotation and runbooks.",
              ["Which team owns a service?", "where do I find the owner of a service?"]),
    "Compass": ("our internal wiki, where handbook pages, engineering docs and meeting notes live.",
                ["Where's the internal wiki?", "where are the engineering docs?"]),
    "Lighthouse": ("our monitoring and dashboards tool; service metrics, logs and fleet health are all there.",
                   ["Where are the dashboards?", "where can I see service metrics?"]),
    "Forge": ("our CI system: it runs lint, unit and integration tests on every merge request.",
              ["What runs our CI?", "which CI system do we use?"]),
    "Launchpad": ("our deploy tool; every production deploy goes through it, inside the deploy window.",
                  ["What do we deploy with?", "which tool do I use to deploy?"]),
    "Beacon": ("our paging tool: it runs the on-call schedules and sends pages for alerts.",
               ["What do we use for paging?", "where is the on-call schedule?"]),
    "Harbor": ("our HR portal: time off, payslips, reviews and benefits enrolment are all there.",
               ["Where do I see my payslip and leave balance?", "what's the HR portal called?"]),
    "Ledgerly": ("our expenses tool; claims go there within 30 days, with receipts over $25.",
                 ["Where do I do expenses?", "what's the expense tool?"]),
    "ServiceDesk": ("IT's ticketing portal at help.northwind.internal, for hardware, software and access requests.",
                    ["Where do I open an IT ticket?", "where do I request software?"]),
    "TripDesk": ("our travel booking tool for flights and hotels on work trips.",
                 ["Where do I book work travel?", "how do I book a hotel for a work trip?"]),
}
TOOL_NAMES = sorted(TOOLS)


def slots_tool(rng):
    tool = rng.choice(TOOL_NAMES)
    desc = TOOLS[tool][0]
    a = ["{tool} is " + desc, "It's " + desc + " Ask in {eng_help} if you need access."]
    return {"tool": tool, "_a": a}


def slots_tool_reverse(rng):
    tool = rng.choice(TOOL_NAMES)
    desc = TOOLS[tool][0]
    return {"tool": tool, "need": rng.choice(TOOLS[tool][1]),
            "_a": ["That's in {tool}, " + desc, "Use {tool}. It's " + desc]}


def slots_person(rng):
    return {"colleague": rng.choice(FIRST_NAMES), "city": rng.choice(OFFICES)}


# --- HR ----------------------------------------------------------------------
FU_HOLIDAYS = (["Does that include public holidays?", "Are public holidays part of that?", "And public holidays come on top?"],
               ["No, public holidays are separate. Each office ({offices_list}) has its own holiday calendar in {hr_portal}."])
FU_CARRY = (["Can I carry unused days over?", "What happens to days I don't use?", "Do unused days roll over?"],
            ["You can carry up to {pto_carry} unused days into the next year, and they must be used by {carry_deadline}. Anything above that is forfeited."])
FU_CONTRACTOR_PTO = (["What about contractors?", "Does that apply to contractors too?", "Is it the same for contractors?"],
                     ["No. Contractors aren't covered by Northwind's PTO policy; their time off is set by their contract, so they should check with their agency."])

intent("pto_allowance", "hr", [
    "How many <pto> do I <get> per year?",
    "What's our annual <pto_mass> allowance?",
    "How many days of <pto_mass> does a full-time employee <get>?",
    "What is the <pto_mass> entitlement at Northwind?",
    "Remind me how much <pto_mass> we get each year?",
    "I'm full-time. How many <pto> am I entitled to?",
    "Is our <pto_mass> allowance 20 or 25 days?",
    "How much <pto_mass> comes with the job?",
    "how many <pto> per year for full time staff",
    "What's the yearly <pto_mass> at {company}?",
    "Do we <get> a fixed number of <pto> each year? How many?",
], [
    "Full-time employees get {pto_days} days of paid time off per calendar year, on top of public holidays. You request it in {hr_portal}.",
    "You get {pto_days} PTO days per calendar year as a full-time employee. Public holidays for your office don't count against that.",
    "The allowance is {pto_days} days of PTO per year for full-time staff; part-time staff get a pro-rated amount.",
], [FU_HOLIDAYS, FU_CARRY, FU_CONTRACTOR_PTO,
    (["And if I'm part-time?", "How does it work for part-timers?"],
     ["It's pro-rated: {pto_days} days times your working days divided by five, so 3 days a week gives 15 days."])])

intent("pto_request", "hr", [
    "<how_do_i> <request> <pto_mass>?",
    "<where_do_i> book time off?",
    "What's the process to take a week of <pto_mass>?",
    "How far in advance should I <request> <pto_mass>?",
    "I want to take next Friday off. What do I do?",
    "Who approves my <pto_mass> requests?",
    "I'd like to take two weeks off in {month}. How do I put that in?",
    "How do I ask my <manager> for <pto_mass>?",
    "Where do <pto_mass> requests go?",
], [
    "Request it in {hr_portal} ({hr_url}) under Time Off, and your manager approves it there. For 3 or more consecutive days, please submit at least {pto_notice} in advance.",
    "Use the Time Off page in {hr_portal}; the request goes to your manager for approval. Longer breaks of 3+ days should be requested {pto_notice} ahead.",
], [
    (["What if my manager is on leave too?", "What if my manager is away?"],
     ["Then it goes to your manager's delegate in {hr_portal}. If no delegate is set, ask in {hr_slack} and the People team will reroute it."]),
    (["Can I cancel it later?", "And if my plans change?"],
     ["You can cancel a pending or approved request in {hr_portal} before the leave starts, and the days go back to your balance."]),
    (["Where can I see how many days I have left?", "Where's my balance?"],
     ["Your remaining balance is on the Time Off page in {hr_portal}, including any days carried over."]),
], slots=lambda rng: {"month": rng.choice(MONTHS)})

intent("pto_carryover", "hr", [
    "I have {n} unused <pto>. What happens to them at year end?",
    "Can I carry {n} days of <pto_mass> into next year?",
    "Do my {n} leftover <pto> roll over?",
    "I still have {n} <pto> left this year, will I lose them?",
    "{n} days of <pto_mass> left and it's December. Do they carry over?",
], [], [
    (["Can I get paid out for the rest instead?", "Can I cash them out?"],
     ["No, unused PTO isn't paid out while you're employed, except where local law requires it. {hr_email} can confirm the rules for your office."]),
    (["When do carried days expire?", "How long do I have to use them?"],
     ["Carried-over days must be used by {carry_deadline} of the following year."]),
], slots=slots_carryover)

intent("part_time_pto", "hr", [
    "I work {n} days a week. How many <pto> do I <get>?",
    "I'm part-time ({n} days/week). What's my <pto_mass> allowance?",
    "How is <pto_mass> calculated for part-time staff working {n} days?",
    "Part-timer here, {n} days a week. How much <pto_mass> do I get?",
    "If I switch to {n} days a week, what happens to my <pto_mass>?",
], [
    "PTO is pro-rated for part-time staff: {pto_days} days x {n}/5, so you get {pt} days per year. Your exact balance is shown in {hr_portal}.",
    "At {n} days a week you get {pt} PTO days a year, which is the full-time {pto_days} days pro-rated. {hr_portal} shows your balance.",
], [
    (["And sick days?", "What about sick leave?"],
     ["Sick leave is pro-rated too: {sick_pt} paid sick days a year at {n} days a week."]),
    (["Do I still get benefits?", "Am I eligible for health insurance?"],
     ["Yes, part-time employees working at least {benefits_hours} hours a week are eligible for {health} cover and the {wellness} wellness stipend."]),
], slots=slots_part_time)

intent("sick_leave", "hr", [
    "How many sick days do we <get>?",
    "I'm sick today. What do I do?",
    "Do I need a doctor's note if I'm ill?",
    "What's the sick leave policy?",
    "I woke up with a fever. Who do I tell?",
    "How do I call in sick?",
    "My kid is ill and I feel awful too, how do I log a sick day?",
    "Is there a limit on sick days?",
], [
    "Tell your manager as early as you can and log the day as Sick in {hr_portal}. Full-time employees get {sick_days} paid sick days a year, separate from PTO, and a doctor's note is needed after {note_after} consecutive days.",
    "You get {sick_days} paid sick days per year. Let your manager know and record it in {hr_portal}; a doctor's note is only required after {note_after} days in a row.",
], [
    (["Does it come out of my PTO?", "Will that use my vacation days?"],
     ["No, sick days are a separate balance from your {pto_days} PTO days."]),
    (["What if I'm out longer than that?", "And if I need more than that?"],
     ["Contact {hr_email} about extended sick leave; they'll explain the longer-term cover that applies in your country."]),
])

intent("parental_leave", "hr", [
    "What's the parental leave policy?",
    "How much parental leave do new parents <get>?",
    "My partner is expecting. How much leave can I take?",
    "Is parental leave paid?",
    "Do dads get parental leave too?",
    "We're adopting a child. Am I entitled to leave?",
    "How long is maternity leave here?",
    "How many weeks of paternity leave does {company} offer?",
], [
    "All parents, including adoptive parents, get {parental_weeks} weeks of fully paid parental leave, taken within 12 months of the birth or adoption. You're eligible after {parental_months} months of employment.",
    "Parental leave is {parental_weeks} weeks at full pay for every parent, regardless of gender or adoption. It must be used within 12 months and needs {parental_months} months of service.",
], [
    (["Can I split it up?", "Does it have to be in one block?"],
     ["You can take it in up to three blocks, as long as it's all used within 12 months of the birth or adoption."]),
    (["How do I apply?", "How do I request it?"],
     ["Tell your manager and submit a Parental Leave request in {hr_portal} at least {parental_notice} before you start, or as soon as you can for adoptions."]),
    (["Does it apply to contractors?", "What if I'm a contractor?"],
     ["No, the paid parental policy is for employees. Contractors should check their contract and agency."]),
])

intent("parental_eligibility", "hr", [
    "I joined {m} months ago and my baby is due soon. Do I qualify for parental leave?",
    "Am I eligible for parental leave after {m} months here?",
    "I've been at {company} for {m} months. Can I take the paid parental leave?",
    "Expecting a baby! I'm {m} months into the job, do I get parental leave?",
], [], [], slots=slots_parental, intro=False)

intent("expenses_submit", "hr", [
    "<how_do_i> <submit> <expenses>?",
    "<where_do_i> claim back travel costs?",
    "What's the deadline for expense reports?",
    "How long do I have to submit a receipt?",
    "How do I get reimbursed for a client dinner?",
    "I paid for a conference ticket myself. How do I get the money back?",
    "When do expenses get paid back?",
    "what tool do we use for <expenses>",
], [
    "Submit expenses in {expense_tool} within {expense_days} days of the purchase, with receipts for anything over {receipt_min}. Once your manager approves, it's reimbursed with the next payroll.",
    "Claims go into {expense_tool} within {expense_days} days, receipts attached for items over {receipt_min}. After manager approval they're paid with your next salary.",
], [
    (["Do I need a receipt for a $10 taxi?", "Even for small amounts?"],
     ["No, receipts are only required over {receipt_min}, but add a short description of the purchase."]),
    (["What's the meal allowance when travelling?", "Is there a food limit on trips?"],
     ["The meal per diem is {per_diem} per day when you travel for work."]),
    (["Who approves it?", "Does finance need to sign off?"],
     ["Your manager approves it in {expense_tool}; claims over {finance_limit} also need Finance approval."]),
    (["What if I miss the deadline?", "And if it's older than that?"],
     ["Late claims need your manager's written OK in {expense_tool} and may be rejected, so submit within {expense_days} days where you can."]),
])

intent("expense_receipt", "hr", [
    "I spent ${amt} on {item}. Do I need a receipt?",
    "Is a receipt needed for {item} that cost ${amt}?",
    "Do I have to attach a receipt for {item}? It was ${amt}.",
    "${amt} for {item}: receipt required or not?",
], [], [], slots=slots_receipt)

intent("travel", "hr", [
    "What's the daily meal allowance on business trips?",
    "How much can I spend on food when travelling for work?",
    "What's the per diem?",
    "How do I book a hotel for a work trip?",
    "Is there a limit on meals when I'm on a work trip?",
    "I'm flying to the {city} office next week. How do I book it?",
], [
    "The meal per diem is {per_diem} per day on work travel. Book flights and hotels through {travel_tool} and claim meals in {expense_tool}.",
    "Book travel in {travel_tool}; meals are covered up to {per_diem} a day and claimed afterwards in {expense_tool}.",
], [
    (["Can I fly business class?", "Is business class allowed?"],
     ["Economy is the default. Business class is allowed for flights over 8 hours with your VP's approval."]),
], slots=slots_person)

intent("payroll_date", "hr", [
    "When is <payday>?",
    "When do we get paid?",
    "What day does my <salary> land?",
    "When is payroll this month?",
    "Is it the 25th or the end of the month we get paid?",
    "My <salary> hasn't arrived yet. When should it come?",
    "What date is <payday> at {company}?",
    "Are we paid monthly or every two weeks?",
], [
    "Salaries are paid monthly on the {payday}. If the {payday} falls on a weekend or public holiday, you're paid on the previous business day. Payslips are in {hr_portal}.",
    "Payday is the {payday} of every month, moved to the previous business day when it lands on a weekend or holiday.",
], [
    (["Where do I see my payslip?", "Where are payslips?"],
     ["Payslips are under Pay > Documents in {hr_portal}, usually two days before payday."]),
    (["What if my pay is wrong?", "And if the amount looks off?"],
     ["Email {payroll_email} with the payslip month and what looks wrong; they reply within 2 business days."]),
    (["Is it the same in Lisbon?", "Does that apply in Toronto too?"],
     ["Yes, every office is paid on the {payday}. Lisbon staff are paid in euros and Toronto staff in Canadian dollars."]),
])

intent("payroll_weekend", "hr", [
    "The 25th of {month} is a {wd}. When will I get paid?",
    "Payday falls on a {wd} in {month}, when does the money arrive?",
    "In {month} the 25th is a {wd}. Do we get paid early?",
], [], [], slots=slots_payday)

intent("benefits_health", "hr", [
    "What <health_ins> do we have?",
    "Who's our <health_ins> provider?",
    "How do I enrol in benefits?",
    "When do I need to sign up for <health_ins>?",
    "I'm a new hire. How do I get <health_ins>?",
    "Can I add my partner to my <health_ins>?",
], [
    "Health cover is through {health}. Enrol in {hr_portal} under Benefits within {enrol_days} days of your start date; after that you wait for open enrolment.",
    "We use {health}. New employees have {enrol_days} days from their start date to enrol in {hr_portal}, and partners and children can be added there.",
], [
    (["What if I miss the {enrol_days} days?", "What if I'm late?"],
     ["Then you can only enrol at the yearly open enrolment, unless you have a qualifying life event such as a birth or marriage."]),
    (["Are contractors covered?", "Do contractors get this?"],
     ["No, {health} cover is for employees. Contractors get benefits, if any, through their agency."]),
])

intent("benefits_perks", "hr", [
    "Do we have a wellness budget?",
    "What's the 401(k) match?",
    "Is there a learning budget?",
    "Can I expense a gym membership?",
    "How much can I spend on training courses?",
    "What perks do employees <get>?",
    "Does {company} pay for conferences?",
], [
    "Employees get a {wellness} yearly wellness stipend (gym, sports, therapy apps) and a {learning} yearly learning budget for courses, books and conferences. US staff also get a {match} 401(k) match.",
    "There's a {learning} learning budget and a {wellness} wellness stipend each year, both claimed in {expense_tool}. In the US, {company} matches 401(k) contributions up to {match}.",
], [
    (["How do I claim the wellness money?", "How do I use it?"],
     ["Claim it in {expense_tool} under Wellness with the receipt; unused stipend doesn't roll over."]),
    (["Does that apply in Lisbon and Toronto?", "What about outside the US?"],
     ["The wellness and learning budgets apply in every office; the {match} 401(k) match is US-only, and other offices have a local pension plan."]),
])

intent("onboarding", "hr", [
    "It's my first day. Where do I go?",
    "What happens on my first day?",
    "I start on Monday. What time should I arrive?",
    "What should a <newhire> do in the first week?",
    "Who is my onboarding buddy?",
    "When is the orientation session?",
    "I'm starting at the {city} office next week, anything I should know?",
], [
    "On your first day, come to reception at 9:30; your manager meets you there with your laptop. You'll also get an onboarding buddy, and Northwind 101 orientation runs every Monday at 10:00.",
    "Arrive at reception at 9:30 on day one. Your manager sets you up with your laptop and onboarding checklist in {hr_portal}, and you'll join Northwind 101 on your first Monday.",
], [
    (["What do I need to bring?", "Anything to bring?"],
     ["Bring a photo ID for your badge, and have your bank details ready for payroll setup in {hr_portal}."]),
    (["When is my first check-in?", "When do I get feedback?"],
     ["You'll have a 90-day check-in with your manager, and your first formal review in the next {review_months} cycle."]),
], slots=slots_person)
SYN["newhire"] = ["new hire", "new starter", "new employee", "newcomer"]

intent("performance_review", "hr", [
    "When are performance reviews?",
    "How often do we have reviews?",
    "When is the self-assessment due?",
    "How does the review cycle work?",
    "Is my review in April?",
    "When's the next performance review cycle?",
    "What do I need to do for my review?",
], [
    "Reviews run twice a year, in {review_months}. You write a self-assessment in {hr_portal}, due two weeks before the cycle closes, and your manager shares feedback in a 1:1.",
    "There are two cycles a year, {review_months}. Each starts with a self-assessment in {hr_portal}, followed by manager feedback and a 1:1.",
], [
    (["Do new hires get reviewed?", "I just joined, does it apply to me?"],
     ["If you joined less than 3 months before a cycle starts, you skip that cycle and have a check-in with your manager instead."]),
    (["Is it linked to pay?", "Do raises come from it?"],
     ["Yes, pay changes are decided in the April cycle; October focuses on feedback and goals."]),
])

intent("remote_work", "hr", [
    "What's the remote work policy?",
    "How many days do I need to be in the <office>?",
    "Can I <wfh>?",
    "Which days are office days?",
    "Can I be fully remote?",
    "Do I have to come in every day?",
    "Is {company} hybrid?",
], [
    "{company} is hybrid: teams are in the office on anchor days, {anchor_days}, and can work from home the rest of the week. Fully remote arrangements need VP approval.",
    "Anchor days are {anchor_days}, when everyone is in the office. The other days you can work from home; fully remote needs VP sign-off.",
], [
    (["Do you pay for home office equipment?", "Is there a home office budget?"],
     ["Yes, there's a one-time {home_office} home office allowance, claimed in {expense_tool}."]),
    (["What if I'm sick on an anchor day?", "And if I can't come in on an anchor day?"],
     ["Just tell your manager; anchor days are a team norm, not a rule that overrides sick leave or PTO."]),
])

intent("work_abroad", "hr", [
    "Can I <wfh> from {country} for a couple of weeks?",
    "I'm visiting family in {country}. Can I work remotely from there?",
    "What's the policy on working abroad temporarily?",
    "Is it OK to work from {country} for a month?",
    "Planning to spend some time in {country}, can I keep working while there?",
], [
    "You can work from another country for up to {abroad_days} working days per year. Get approval from your manager and HR in {hr_portal} at least {abroad_notice} before you go, since tax and visa rules vary.",
    "Working abroad is allowed for up to {abroad_days} working days a year, with manager and HR approval in {hr_portal} requested {abroad_notice} ahead.",
], [
    (["Will the VPN work there?", "Can I use {vpn_client} from there?"],
     ["{vpn_client} works in most countries, but some destinations are restricted, so check with {security_email} before travelling with your laptop."]),
    (["What if I want to stay longer?", "And for longer than that?"],
     ["Stays beyond {abroad_days} working days need a formal HR and Legal review, so raise it with {hr_email} early."]),
], slots=slots_country)

intent("hr_contact", "hr", [
    "How do I contact HR?",
    "Who do I ask about HR stuff?",
    "What's the People team's email?",
    "Is there a Slack channel for HR questions?",
    "I have a confidential HR question, who do I talk to?",
], [
    "Email {hr_email} or ask in {hr_slack} on Slack. For confidential matters, book a private call with your HR partner through {hr_portal}.",
    "The People team is at {hr_email} and in {hr_slack}. Confidential topics can go to your HR partner directly via {hr_portal}.",
])

intent("contractor_pto", "hr", [
    "I'm a contractor. Do I <get> <pto_mass>?",
    "As a contractor, am I entitled to paid leave?",
    "Do contractors get the 25 <pto>?",
    "I'm on a contract through an agency. How does time off work for me?",
    "contractor here - can I book <pto_mass> in {hr_portal}?",
], [
    "No. Northwind's PTO, sick leave and benefits apply to employees only. As a contractor, your time off is set by your contract, so check with your agency or your Northwind sponsor.",
    "Contractors aren't covered by the {pto_days}-day PTO policy and don't book leave in {hr_portal}. Agree time off with your Northwind sponsor and follow your agency contract.",
], [
    (["Should I still tell my team?", "Do I need to tell anyone?"],
     ["Yes, let your Northwind sponsor and team know your dates in advance so work can be covered."]),
])

intent("contractor_expenses", "hr", [
    "I'm a contractor. Can I submit expenses in {expense_tool}?",
    "How do contractors get reimbursed for travel?",
    "As a contractor, how do I claim <expenses>?",
], [
    "Contractors don't use {expense_tool}. If your contract covers expenses, invoice them through your agency with the receipts attached.",
    "Expenses for contractors go through your agency invoice, not {expense_tool}, and only if your contract allows them.",
])

# --- IT ----------------------------------------------------------------------
FU_AFTER_HOURS = (["And outside those hours?", "What if it's the weekend?", "What about at night?"],
                  ["For urgent issues after hours, call the IT on-call line at {it_after_hours}."])

intent("helpdesk_contact", "it", [
    "How do I reach IT?",
    "What's the helpdesk number?",
    "What's the IT extension?",
    "When is the helpdesk open?",
    "How do I open an IT ticket?",
    "Who do I call for computer problems?",
    "what are the IT support hours",
], [
    "Call the helpdesk on extension {helpdesk_ext}, email {helpdesk_email}, or open a ticket at {servicedesk_url}. They're staffed {helpdesk_hours}.",
    "IT support is on extension {helpdesk_ext} and at {servicedesk_url}, available {helpdesk_hours}.",
], [FU_AFTER_HOURS])

intent("vpn_setup", "it", [
    "<how_do_i> connect to <the_vpn>?",
    "How do I set up the VPN on my <laptop>?",
    "Which VPN client do we use?",
    "What's the VPN server address?",
    "I need VPN access from home. How?",
    "Do I need the VPN to reach internal sites?",
    "what's the VPN called again",
], [
    "We use the {vpn_client} client, preinstalled on company laptops. Connect to {vpn_gateway} and sign in with your Northwind ID and a {mfa_app} push.",
    "Open {vpn_client}, use the gateway {vpn_gateway}, and approve the {mfa_app} prompt. You need it for internal tools when you're off-site.",
], [
    (["It's not installed on mine.", "I can't find the client."],
     ["Install it from Self Service on a Mac or Software Center on Windows. If it's missing there, open a ticket at {servicedesk_url}."]),
    (["Do I need it in the office?", "And in the office?"],
     ["No, on {wifi_corp} in the office you're already on the internal network."]),
    FU_AFTER_HOURS,
])

intent("vpn_trouble", "it", [
    "<the_vpn> keeps disconnecting.",
    "VPN says authentication failed.",
    "I can't connect to <the_vpn> from my hotel.",
    "<the_vpn> <broken>.",
    "My VPN connection drops every few minutes, help",
    "VPN won't connect after I changed my password",
], [
    "Quit and reopen {vpn_client}, check your Northwind ID password hasn't expired, and approve the {mfa_app} prompt. If it still fails, call the helpdesk on {helpdesk_ext} with the error message.",
    "First restart {vpn_client} and make sure you're connecting to {vpn_gateway}. Authentication errors usually mean an expired password, which you can reset at {id_portal}.",
], [FU_AFTER_HOURS,
    (["Could it be the hotel Wi-Fi?", "Could it be my network?"],
     ["Yes, some hotel networks block VPN traffic. Try a phone hotspot; if that works, the hotel network is the problem."])])

intent("password_reset", "it", [
    "I forgot my <pw>.",
    "<how_do_i> reset my <pw>?",
    "My <pw> expired.",
    "I'm locked out of my account.",
    "Can't log in, I think I mistyped my password too many times",
    "How do I change my <pw>?",
], [
    "Reset it yourself at {id_portal} using the {mfa_app} app. If you're locked out completely, call the helpdesk on {helpdesk_ext} and they'll verify your identity.",
    "Go to {id_portal} and choose Forgot password; you'll confirm with {mfa_app}. If that doesn't work, the helpdesk on {helpdesk_ext} can unlock you.",
], [
    (["What are the password rules?", "How long does it need to be?"],
     ["At least {pw_min} characters, and it expires every {pw_expiry} days."]),
    FU_AFTER_HOURS,
])

intent("password_rules", "it", [
    "What are the password rules?",
    "How often do passwords need changing?",
    "How long does my <pw> have to be?",
    "When does my <pw> expire?",
    "Why is it asking me to change my password?",
], [
    "Passwords must be at least {pw_min} characters and expire every {pw_expiry} days. You get reminders 14 days before expiry and can change it at {id_portal}.",
    "Minimum length is {pw_min} characters, and passwords expire every {pw_expiry} days. Change it any time at {id_portal}.",
], [
    (["Can I reuse an old one?", "Can I use my previous password?"],
     ["No, your last 10 passwords can't be reused."]),
])

intent("mfa_setup", "it", [
    "How do I set up MFA?",
    "What authenticator app do we use?",
    "How do I enrol in two-factor authentication?",
    "Do I need MFA on my phone?",
    "What's {mfa_app}?",
], [
    "Install {mfa_app} from your phone's app store and enrol it at {id_portal} under Security. Engineers with production access also need a hardware security key from IT.",
    "We use {mfa_app}. Enrol your phone at {id_portal} > Security, and approve push prompts when you sign in or connect to {vpn_client}.",
])

intent("mfa_new_phone", "it", [
    "I got a new phone. How do I move my MFA?",
    "How do I move {mfa_app} to a new phone?",
    "I lost my phone and can't log in.",
    "My phone broke and now I can't approve MFA prompts.",
    "Switching phones tomorrow, what do I need to do for MFA?",
], [
    "Before wiping the old phone, add the new one at {id_portal} under Security > Devices, then remove the old device. If the old phone is gone, the helpdesk ({helpdesk_ext}) can issue a temporary code valid for {temp_code_hours} hours.",
    "Call the helpdesk on {helpdesk_ext}; after verifying your identity they'll issue a temporary code valid for {temp_code_hours} hours, so you can enrol {mfa_app} on the new device.",
], [FU_AFTER_HOURS])

intent("laptop_request", "it", [
    "<how_do_i> <request> a new <laptop>?",
    "My <laptop> is really slow. Can I get a new one?",
    "How long does it take to get a <laptop>?",
    "I need a second monitor, where do I ask?",
    "My <laptop> screen cracked. What now?",
], [
    "Request it in {servicedesk_url} under Hardware. Your manager approves it, and delivery takes about {laptop_days} business days.",
    "Open a Hardware request at {servicedesk_url}; after manager approval IT ships it within about {laptop_days} business days.",
], [
    (["What model would I get?", "Which laptop is standard?"],
     ["Engineers get a {laptop_eng}; everyone else gets a {laptop_std}."]),
    (["Can I use my personal laptop meanwhile?", "Can I use my own laptop until then?"],
     ["No, personal devices can't connect to internal systems. IT can lend you a loaner laptop in the meantime."]),
])

intent("laptop_models", "it", [
    "What <laptop> do engineers get?",
    "Do we get Macs or Windows laptops?",
    "What's the standard <laptop>?",
    "Can I choose a Mac instead of a ThinkPad?",
], [
    "Engineers get a {laptop_eng}, and everyone else gets a {laptop_std}. Exceptions need a business reason in the Hardware request at {servicedesk_url}.",
    "The standard is a {laptop_std}; engineering roles get a {laptop_eng}. Both are refreshed every {laptop_refresh} years.",
])

intent("laptop_age", "it", [
    "My <laptop> is {y} years old. Am I due a replacement?",
    "Can I get a new <laptop>? Mine is {y} years old.",
    "When do laptops get refreshed? Mine's {y} years old.",
], [], [], slots=slots_laptop_age)

intent("wifi", "it", [
    "What's the Wi-Fi password?",
    "Which Wi-Fi should I use in the <office>?",
    "How do I get guests on the Wi-Fi?",
    "Can I connect my personal phone to {wifi_corp}?",
    "wifi password for visitors?",
    "Which network do I join at the {city} office?",
], [
    "Use {wifi_corp} and sign in with your Northwind ID; there's no shared password. Guests and personal devices go on {wifi_guest}, whose password is at reception and changes every Monday.",
    "Company laptops join {wifi_corp} with your Northwind ID. Personal devices and visitors use {wifi_guest}; reception has this week's password.",
], [
    (["{wifi_corp} isn't showing up.", "It won't connect."],
     ["Forget the network, reconnect with your Northwind ID, and if it still fails call the helpdesk on {helpdesk_ext}."]),
], slots=slots_person)

intent("printer", "it", [
    "How do I print?",
    "Where's the printer?",
    "How do I add the office printer?",
    "My print job didn't come out.",
    "How does printing work here?",
    "Can I print from my personal laptop?",
], [
    "Print to the {print_queue} queue, then tap your badge on any office printer to release the job. Jobs wait 24 hours before they're deleted.",
    "All printers use {print_queue}: send the job, walk to any printer and tap your badge. Personal devices can't print.",
], [
    (["It's not in my printer list.", "I don't see {print_queue}."],
     ["Add it from Self Service on a Mac or Software Center on Windows, or open a ticket at {servicedesk_url}."]),
])

intent("software_licence", "it", [
    "How do I get a license for {software}?",
    "Can I install {software} on my <laptop>?",
    "Who approves software purchases?",
    "I need {software} for my project.",
    "How do I request a licence for {software}?",
    "Is {software} allowed?",
], [
    "Request {software} from the Software Catalog in {servicedesk_url}. Pre-approved apps are granted automatically; anything else needs a security review of about {licence_days} business days.",
    "Use the Software Catalog at {servicedesk_url}. If {software} isn't pre-approved, Security reviews it, which takes about {licence_days} business days.",
], [
    (["Who pays for it?", "Does it come from my team's budget?"],
     ["Paid licences are charged to your team's cost centre, so your manager approves the request."]),
], slots=slots_software)

intent("phishing_report", "it", [
    "I got a <phishing>. What do I do?",
    "How do I report phishing?",
    "Someone emailed asking for my password. Is it legit?",
    "This email from 'IT' looks fake, what should I do?",
    "Got a <phishing> claiming to be from the CEO",
], [
    "Don't click any links or reply. Use the Report Phish button in Outlook, or forward it as an attachment to {phish_email}. IT will never ask for your password by email.",
    "Report it with the Report Phish button or forward it to {phish_email}, then delete it. Real IT staff never ask for your password.",
], [
    (["What if I already clicked the link?", "I think I clicked it though."],
     ["Change your password at {id_portal} from another device and call the helpdesk on {helpdesk_ext} right away ({it_after_hours} after hours)."]),
])

intent("phishing_clicked", "it", [
    "I think I clicked a phishing link.",
    "I entered my password on a fake login page!",
    "Oops, I opened an attachment from a <phishing>.",
    "I clicked a link in a <phishing> and it asked for my login",
], [
    "Disconnect from the network, change your password at {id_portal} from another device, and call the helpdesk on {helpdesk_ext} right away ({it_after_hours} after hours). Quick reporting really helps.",
    "Act now: reset your password at {id_portal}, then call {helpdesk_ext} (or {it_after_hours} out of hours) and forward the email to {phish_email}.",
])

intent("lost_laptop_urgent", "it", [
    "My <laptop> was stolen tonight. What do I do?",
    "It's 11pm and I left my <laptop> on the train.",
    "Lost my work <laptop> over the weekend, this is <urgent>.",
    "Someone broke into my car and took my work <laptop>.",
], [
    "Call the IT on-call line at {it_after_hours} now so they can lock and wipe it, then email {security_email} with when and where it happened. File a police report if it was stolen.",
    "Call {it_after_hours} (IT on-call, 24/7) immediately so the laptop can be locked remotely, and report it to {security_email}.",
], [
    (["Will I get a replacement?", "How do I get another one?"],
     ["Yes, IT will arrange a replacement through {servicedesk_url}, usually within {laptop_days} business days, or a loaner sooner."]),
])

intent("locked_out_urgent", "it", [
    "It's Saturday and I'm locked out of my account. I have a customer demo in an hour!",
    "This is <urgent>: I'm locked out at 10pm and need to fix a customer issue.",
    "Can't log in and the helpdesk is closed, what now?",
    "My {mfa_app} won't work and it's Sunday night, I need access.",
], [
    "Call the IT on-call line at {it_after_hours}; they handle urgent lockouts 24/7 and can issue a temporary {mfa_app} code.",
    "Outside helpdesk hours, call {it_after_hours}. The on-call technician can verify you and unlock the account or give you a {temp_code_hours}-hour code.",
])

# --- Engineering -------------------------------------------------------------
FU_ENG_DOCS = (["Where is this documented?", "Is there a wiki page?"],
               ["It's on the engineering pages of {wiki}, our wiki, and you can ask in {eng_help} on Slack."])

intent("ci_overview", "eng", [
    "How does CI work here?",
    "What CI system do we use?",
    "What runs in the pipeline?",
    "How long does CI take?",
    "Where do I see my build?",
    "What checks run on my <mr>?",
], [
    "CI runs on {ci} for every merge request: lint, unit tests, then integration tests on simulated robots. A typical run takes about {ci_minutes} minutes, and main must stay green.",
    "Every merge request triggers a {ci} pipeline (lint, unit and integration tests), which usually takes around {ci_minutes} minutes.",
], [
    (["A test is flaky, what do I do?", "What about flaky tests?"],
     ["Re-run the job once, then tag the test @flaky and post it in {ci_channel}; flaky tests are triaged weekly."]),
    (["Can I merge if CI is red?", "Can I skip a failing check?"],
     ["No, merges are blocked until the pipeline passes. If main itself is broken, say so in {ci_channel}."]),
    FU_ENG_DOCS,
])

intent("ci_failing", "eng", [
    "My build fails on {ci} but passes locally.",
    "CI keeps timing out.",
    "My {ci} pipeline is stuck in pending.",
    "Integration tests <broken> on my <mr>.",
    "Is CI down? Nothing is running.",
], [
    "Check the job log in {ci}; most local-vs-CI differences come from cached dependencies, so try a re-run with a clean cache. If it's stuck or failing for everyone, post in {ci_channel}.",
    "Look at the failing job in {ci} first. If several people are affected, {ci_channel} is where the CI team tracks outages.",
], [FU_ENG_DOCS])

intent("code_review", "eng", [
    "How many approvals does a <mr> need?",
    "What are the code review rules?",
    "How big should a <mr> be?",
    "How fast should I review someone's <mr>?",
    "Who needs to approve changes to the motion controller?",
    "what's the review policy for firmware changes",
], [
    "Every merge request needs {approvals} approval from a code owner, or {approvals_safety} for safety-critical code under {safety_path}. Keep changes under {pr_lines} lines where possible; reviewers respond within {review_sla}.",
    "You need {approvals} code-owner approval ({approvals_safety} under {safety_path}), and reviews should happen within {review_sla}. Aim for merge requests under {pr_lines} lines.",
], [
    (["Can I approve my own <mr>?", "Does my own approval count?"],
     ["No, self-approval doesn't count; you need another code owner."]),
    (["How do I merge it?", "Squash or merge commit?"],
     ["Squash-merge once CI is green and approvals are in; the title should reference the {ticket_project} ticket."]),
    FU_ENG_DOCS,
])

intent("deploy_rules", "eng", [
    "When are the deploy windows?",
    "Can we <deploy> on Fridays?",
    "Is there a deploy freeze?",
    "How do I <deploy> to <prod>?",
    "What's the holiday code freeze?",
    "When am I allowed to <deploy> to <prod>?",
], [
    "Production deploys go through {deploy_tool}, {window}, and on Fridays until {friday_cutoff}. After {friday_cutoff} on Friday and at weekends there's a deploy freeze, plus a holiday freeze from {holiday_freeze}.",
    "Use {deploy_tool} within the window: {window}, Fridays only until {friday_cutoff}. There's a holiday freeze from {holiday_freeze}.",
], [
    (["What if I need an urgent fix during the freeze?", "And hotfixes?"],
     ["Hotfixes during a freeze need approval from the incident commander or your engineering director, and must be logged in {incident_channel}."]),
    FU_ENG_DOCS,
])

intent("deploy_time", "eng", [
    "Can I <deploy> on {day} at {time}?",
    "Is {day} {time} inside the deploy window?",
    "I want to <deploy> to <prod> on {day} around {time}. OK?",
    "Deploying at {time} on {day}, allowed?",
    "Planning a <prod> release {day} at {time}, any problem?",
], [], [
    (["What if it's a hotfix?", "And for an urgent fix?"],
     ["Hotfixes outside the window need approval from the incident commander or your engineering director, logged in {incident_channel}."]),
], slots=slots_deploy)

intent("oncall", "eng", [
    "How does on-call work?",
    "When does the on-call rotation change?",
    "How fast do I need to acknowledge a page?",
    "Do we get paid extra for on-call?",
    "I'm on call for the first time next week, what should I know?",
    "What tool do we use for paging?",
], [
    "On-call rotates weekly, handing over {oncall_start}. Pages come through {pager}, SEV1 pages must be acknowledged within {ack_minutes} minutes, and there's a {oncall_stipend} stipend per on-call week.",
    "Rotations are weekly, starting {oncall_start}, and paging runs through {pager}. Acknowledge SEV1 pages within {ack_minutes} minutes; each on-call week pays a {oncall_stipend} stipend.",
], [
    (["How do I swap a shift?", "Can I swap weeks with someone?"],
     ["Create an override in {pager} and tell your team channel; make sure the person covering has accepted."]),
    (["What if I miss a page?", "And if I don't acknowledge in time?"],
     ["It escalates to the secondary on-call after {ack_minutes} minutes, then to the engineering manager."]),
])

intent("incident", "eng", [
    "How do I declare an incident?",
    "<prod> is down. What do I do?",
    "What are the severity levels?",
    "When is the postmortem due?",
    "Who runs an incident?",
    "Customers can't reach their robots, how do I raise this?",
], [
    "Declare it in {incident_channel} with the /incident command and pick a severity (SEV1 is a customer-facing outage, SEV3 minor); an incident commander is assigned. A blameless postmortem is due within {postmortem_days} business days.",
    "Run /incident in {incident_channel}, choose SEV1 to SEV3, and follow the incident commander. Afterwards, write a blameless postmortem within {postmortem_days} business days.",
], [
    (["Who writes the postmortem?", "Who owns the postmortem?"],
     ["The team that owns the affected service writes it, with help from the incident commander; it's reviewed at the weekly ops review."]),
    FU_ENG_DOCS,
])

intent("incident_urgent", "eng", [
    "It's 2am and the fleet dashboard shows all robots offline, help!",
    "Sunday night, {monitoring} shows the order API returning errors for every customer. What do I do?",
    "This is <urgent>: a customer site reports every {amr} robot stopped. Who do I wake up?",
    "Nobody is answering and prod is down, what's the process at night?",
], [
    "Page the on-call through {pager} and declare a SEV1 in {incident_channel} with /incident right away. Don't wait until morning; SEV1 pages must be acknowledged within {ack_minutes} minutes.",
    "Declare a SEV1 with /incident in {incident_channel}, which pages the on-call via {pager}. If nobody acknowledges within {ack_minutes} minutes it escalates automatically.",
])

intent("tool_what", "eng", [
    "What is {tool} used for?",
    "What's {tool}?",
    "Can you explain what {tool} does?",
    "Never heard of {tool}. What is it?",
    "what is {tool}",
], [], [], slots=slots_tool)

intent("tool_where", "eng", [
    "{need}",
], [], [], slots=slots_tool_reverse)

intent("repos", "eng", [
    "Where is the code hosted?",
    "Which repo has the robot software?",
    "Where's the Terraform code?",
    "Where do I find the {fleet_sw} source?",
    "What's our git server?",
], [
    "Code lives on {git_host}. Robot and {fleet_sw} software is in the {monorepo} monorepo, and infrastructure code is in {infra_repo}.",
    "Everything is on {git_host}: the {monorepo} monorepo for robot software and {infra_repo} for Terraform.",
], [
    (["How do I get access?", "I don't have access yet."],
     ["Request Git group access in {servicedesk_url}; your manager approves it, usually the same day."]),
    (["How should I name my branch?", "Any branch naming rules?"],
     ["Use username/{ticket_project}-123-short-description, with the ticket number from the {ticket_project} project."]),
])

intent("branch_naming", "eng", [
    "How should I name my branch?",
    "What's the branch naming convention?",
    "Which ticket project do we use?",
    "Do commit messages need a ticket number?",
], [
    "Branches are named username/{ticket_project}-123-short-description, and merge request titles reference the {ticket_project} ticket.",
    "Use username/{ticket_project}-1234-short-description for branches; tickets live in the {ticket_project} project.",
])

# --- Decline / redirect ----------------------------------------------------------
intent("decline_salary", "decline", [
    "How much does {colleague} earn?",
    "What's my <manager>'s salary?",
    "Can you tell me what the {team} team gets paid?",
    "What does {colleague} make a year?",
], [
    "I can't share other people's pay; compensation is confidential. For questions about your own pay or salary bands, talk to your manager or {hr_email}.",
    "Sorry, individual salaries are confidential and I can't share them. Your manager or {hr_email} can explain the salary band for your own role.",
], slots=lambda rng: {"colleague": rng.choice(FIRST_NAMES), "team": rng.choice(TEAMS)}, weight=0.6)

intent("decline_password_share", "decline", [
    "Can you give me {colleague}'s password? They're on holiday and I need their files.",
    "What's the admin password for the build server?",
    "Just tell me {colleague}'s login, it's <urgent>.",
    "I need to log in as {colleague} to finish their report.",
], [
    "I can't help with that: passwords must never be shared. Ask {colleague}'s manager to approve delegated access through {servicedesk_url}.",
    "Sharing credentials isn't allowed, even in an emergency. Open a ticket at {servicedesk_url} and IT can grant access to the files with manager approval.",
], slots=lambda rng: {"colleague": rng.choice(FIRST_NAMES)}, weight=0.6)

intent("decline_mfa_bypass", "decline", [
    "Can you disable MFA on my account? It's annoying.",
    "How do I skip MFA?",
    "Turn off {mfa_app} for me please.",
    "Is there a way to log in without MFA?",
], [
    "I can't disable MFA; it's required for every account. If the prompts are a problem, the helpdesk ({helpdesk_ext}) can help you set up {mfa_app} properly or get a hardware key.",
    "MFA can't be turned off for anyone. If you're having trouble with {mfa_app}, call the helpdesk on {helpdesk_ext}.",
], weight=0.5)

intent("decline_medical", "decline", [
    "What medication should I take for my back pain?",
    "Can you diagnose this rash?",
    "What's the best medicine for a migraine?",
    "Should I see a doctor about my headaches?",
], [
    "I can't give medical advice, so please speak to a doctor or pharmacist. If you need time off, log it as sick leave in {hr_portal}.",
    "That's a question for a doctor, not me. If you're unwell, take a sick day and record it in {hr_portal}; you have {sick_days} paid sick days a year.",
], weight=0.5)

intent("decline_legal_tax", "decline", [
    "Can you help with my personal tax return?",
    "Should I sign my apartment lease?",
    "How do I dispute a parking fine?",
    "Can you give me legal advice about my divorce?",
], [
    "That's outside what I can help with; I only cover Northwind HR, IT and engineering questions. A qualified tax or legal adviser is the right person.",
    "Sorry, I can't advise on personal legal or tax matters. For work questions on HR, IT or engineering I'm happy to help.",
], weight=0.5)

intent("decline_off_topic", "decline", [
    "What's the weather tomorrow?",
    "Who won the game last night?",
    "Write me a poem about cats.",
    "Recommend a good restaurant in {city}.",
    "Tell me a joke.",
    "What's the capital of Australia?",
], [
    "I'm {assistant}, Northwind's internal assistant, so I can only help with HR, IT and engineering questions at work. Anything on those I can help with?",
    "That's outside my scope: I answer questions about Northwind's HR policies, IT support and engineering processes.",
], [
    (["OK then, how many <pto> do I get?", "Fine. How many vacation days do we have?"],
     ["Full-time employees get {pto_days} days of PTO per calendar year, plus public holidays."]),
    (["OK, what's the helpdesk extension then?", "Fine, how do I reach IT?"],
     ["The helpdesk is on extension {helpdesk_ext}, or at {servicedesk_url}."]),
], slots=slots_person, weight=0.6)

intent("redirect_harassment", "decline", [
    "A colleague keeps making inappropriate comments. What can I do?",
    "I want to report my <manager>'s behaviour anonymously.",
    "Someone on my team is bullying me.",
    "How do I report discrimination?",
], [
    "I'm sorry you're dealing with that. You can report it confidentially to your HR partner via {hr_email}, or anonymously through the {ethics_line} portal. Retaliation for reporting is not tolerated.",
    "Please report it: anonymously through {ethics_line}, or confidentially to the People team at {hr_email}. Northwind does not tolerate retaliation against people who report.",
], [
    (["Will my manager find out?", "Is it really anonymous?"],
     ["{ethics_line} reports are anonymous unless you choose to give your name, and HR reports are handled confidentially."]),
], weight=0.5)

intent("decline_doctor_note", "decline", [
    "Can you write me a doctor's note so I can take Friday off?",
    "Make me a sick note please.",
    "Can you fake a medical certificate for me?",
], [
    "I can't create a doctor's note. If you're unwell, log sick leave in {hr_portal}; a note is only needed after {note_after} consecutive days. If you just want the day off, request PTO.",
    "I can't write medical notes. For a single sick day you don't need one anyway: notes are required only after {note_after} days in a row.",
], weight=0.4)

intent("decline_prod_creds", "decline", [
    "Give me the <prod> database password.",
    "What's the root password for <prod>?",
    "Can you paste the AWS keys for the {infra_repo} account?",
], [
    "I can't share credentials. Production access is requested in {servicedesk_url} with manager approval, and secrets come from the vault, never from chat.",
    "Credentials are never shared in chat. Request production access through {servicedesk_url}; once approved, you read secrets from the vault.",
], weight=0.5)

intent("decline_layoffs", "decline", [
    "Are there going to be layoffs?",
    "I heard we're being acquired. Is it true?",
    "Is my team getting cut?",
], [
    "I don't have information on that and can't speculate. Official company news is shared at the monthly all-hands and on {wiki}; your manager is the best person to ask.",
    "I can't comment on rumours. Company announcements come through the monthly all-hands and {wiki}, and your manager can answer questions about your team.",
], weight=0.4)

intent("decline_approve_mr", "decline", [
    "Can you approve my <mr>? Nobody's around.",
    "Please merge my <mr> for me.",
    "Can you skip the freeze and <deploy> this for me?",
], [
    "I can't approve or merge code. You need {approvals} approval from a code owner; check the owners listed in {catalog} or ask in your team channel.",
    "I'm not able to approve or deploy anything. Find a code owner in {catalog}, and for urgent fixes during a freeze ask the incident commander.",
], weight=0.4)

# --- General -------------------------------------------------------------------
intent("identity", "general", [
    "Who are you?",
    "What can you help with?",
    "What do you do?",
    "Are you a bot?",
    "What kind of questions can I ask you?",
], [
    "I'm {assistant}, {company}' internal assistant. I can answer questions about HR policies, IT support and engineering processes.",
    "I'm {assistant}, an assistant for {company} employees. Ask me about leave, benefits, IT problems, or how engineering work like CI and deploys is done here.",
], weight=0.6)

intent("company_info", "general", [
    "Where are {company}'s offices?",
    "Where's HQ?",
    "How many offices do we have?",
    "What does {company} make?",
    "What products do we sell?",
    "How big is the company?",
], [
    "{company} is headquartered in {hq}, with offices in Austin, Lisbon and Toronto. We build warehouse robots: the {amr} mobile robot and the {arm} picking arm, run by {fleet_sw} fleet software.",
    "We make warehouse automation: {amr} autonomous mobile robots, {arm} picking arms and the {fleet_sw} fleet software. HQ is in {hq}, with {headcount} people across {offices_list}.",
], weight=0.6)

INTENTS.sort(key=lambda it: it["id"])  # stable, explicit order

GENERIC_FU = {
    "hr": (["Who can I ask if I have more questions?", "Who should I contact about this?", "Is there someone in HR I can talk to?"],
           ["The People team can help: email {hr_email} or post in {hr_slack}."]),
    "it": (["Who do I contact if that doesn't work?", "And if I'm still stuck?", "What if that doesn't fix it?"],
           ["Then contact the helpdesk: extension {helpdesk_ext}, {helpdesk_email}, or a ticket at {servicedesk_url}."]),
    "eng": (["Who do I ask if I have more questions?", "Where can I read more about this?"],
            ["Check the engineering pages in {wiki}, or ask in {eng_help} on Slack."]),
    "decline": (["OK, who should I ask instead?", "So who can help me with this?"],
                ["For work matters, the People team ({hr_email}) or the helpdesk ({helpdesk_ext}) are the right contacts."]),
    "general": (["How do I reach a human?", "Can I talk to a person?"],
                ["Sure: HR questions go to {hr_email}, IT problems to the helpdesk on {helpdesk_ext}, and engineering questions to {eng_help}."]),
}
THANKS_FU = (["Thanks!", "Great, thanks.", "Perfect, thank you!", "Got it, thanks.", "That helps, cheers.", "ok thanks"],
             ["You're welcome!", "Happy to help!", "Glad I could help. Anything else?", "Any time!"])

SYSTEM_PROMPTS = [
    "You are Nora, the internal assistant at Northwind Robotics. Answer employee questions briefly.",
    "You are Northwind Robotics' internal help assistant. Be concise and accurate.",
    "You are Nora. Help Northwind employees with HR, IT and engineering questions.",
    "Answer as Northwind Robotics' internal assistant. Keep replies short.",
    "You are a helpful assistant for Northwind Robotics staff.",
    "You are Nora, Northwind's workplace assistant. Politely redirect out-of-scope requests.",
    "You help Northwind Robotics employees using company policy. Reply in 1-3 sentences.",
    "You are the Northwind Robotics helpdesk assistant.",
]

OPENERS = ["Hi!", "Hi,", "Hey,", "Hello,", "Hi Nora,", "Hey Nora!", "Quick question:", "Quick one:",
           "Sorry to bother you,", "Morning!", "Good afternoon.", "Hello there.", "Hiya,", "Question:", "Hey there!"]
INTROS = ["I'm {first} from the {office} office.", "{first} here, {team} team.", "I just joined {team} in {office}.",
          "This is {first} in {team}.", "I'm {first}, I work in {team}."]
SUFFIXES = ["Thanks!", "Thanks in advance.", "Cheers.", "Thx", "Appreciate it.", "Thank you!", "Any help appreciated."]
ANSWER_LEADS = ["Sure! ", "Good question. ", "Happy to help. ", "Of course. "]
KEEP_CASE = {"I", "I'm", "I've", "I'd", "I'll"}


def lower_first(s: str) -> str:
    word = s.split(" ", 1)[0]
    if word in KEEP_CASE or len(word) < 2 or not word[1].islower() or word[0] in "{<$":
        return s
    if word.rstrip("?.,!:") in FIRST_NAMES or word.rstrip("?.,!:'s") in TOOL_NAMES:
        return s
    return s[0].lower() + s[1:]


def decorate_user(core: str, rng: random.Random, vals: dict, allow_intro: bool) -> tuple[str, bool]:
    parts = []
    introduced = False
    if rng.random() < 0.30:
        opener = rng.choice(OPENERS)
        parts.append(opener)
        if opener.endswith(","):
            core = lower_first(core)
    if allow_intro and rng.random() < 0.12:
        parts.append(INTROS[rng.randrange(len(INTROS))].format_map(vals))
        introduced = vals["first"] in parts[-1]
        if len(parts) > 1 and parts[0].endswith(","):
            # "Hi, I'm ..." reads better than "Hi, i'm"; the core starts a new sentence.
            core = core[0].upper() + core[1:]
    parts.append(core)
    if rng.random() < 0.15:
        parts.append(rng.choice(SUFFIXES))
    text = " ".join(parts)
    r = rng.random()
    if r < 0.10:
        text = text.lower()
    elif r < 0.18 and text.endswith("?"):
        text = text[:-1]
    elif r < 0.21 and text.endswith("?"):
        text = text + "?"
    return text, introduced


def light_user(text: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.08:
        return text.lower()
    if r < 0.14 and text.endswith("?"):
        return text[:-1]
    return text


def make_conversation(rng: random.Random) -> dict:
    weights = [it["weight"] for it in INTENTS]
    it = rng.choices(INTENTS, weights=weights, k=1)[0]
    first = rng.choice(FIRST_NAMES)
    vals = dict(FACTS)
    vals.update({"first": first, "office": rng.choice(OFFICES), "team": rng.choice(TEAMS),
                 "city": rng.choice(OFFICES)})
    answers = it["a"]
    if it["slots"] is not None:
        extra = it["slots"](rng)
        answers = extra.pop("_a", answers)
        vals.update(extra)
    q = render(rng.choice(it["q"]), rng, vals)
    user, introduced = decorate_user(q, rng, vals, it["intro"])
    ans = render(rng.choice(answers), rng, vals)
    if introduced and rng.random() < 0.5:
        ans = f"Hi {first}! " + ans
    elif rng.random() < 0.08:
        ans = rng.choice(ANSWER_LEADS) + ans
    msgs = []
    if rng.random() < P_SYSTEM:
        msgs.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    msgs.append({"role": "user", "content": user})
    msgs.append({"role": "assistant", "content": ans})
    if rng.random() < P_MULTI:
        n_extra = 1 if rng.random() < 0.65 else 2
        pool = list(it["f"])
        rng.shuffle(pool)
        generic = GENERIC_FU[it["cat"]]
        chosen = []
        for k in range(n_extra):
            if pool:
                chosen.append(pool.pop())
            elif k == 0:
                chosen.append(generic)
            else:
                chosen.append(THANKS_FU)
        if n_extra == 2 and len(chosen) == 2 and rng.random() < 0.3:
            chosen[1] = THANKS_FU
        for fq, fa in chosen:
            msgs.append({"role": "user", "content": light_user(render(rng.choice(fq), rng, vals), rng)})
            msgs.append({"role": "assistant", "content": render(rng.choice(fa), rng, vals)})
    return {"messages": msgs, "_intent": it["id"], "_cat": it["cat"]}


# ---------------------------------------------------------------------------
# Splits, uniqueness and planted duplicates
# ---------------------------------------------------------------------------
NORM_RE = re.compile(r"[^0-9a-z]+")


def norm(text: str) -> str:
    return NORM_RE.sub(" ", text.lower()).strip()


def conv_key(conv: dict) -> str:
    return "\n".join(m["role"] + ":" + norm(m["content"]) for m in conv["messages"])


def first_user(conv: dict) -> str:
    for m in conv["messages"]:
        if m["role"] == "user":
            return m["content"]
    raise ValueError("no user message")


def conv_chars(conv: dict) -> int:
    return sum(len(m["content"]) for m in conv["messages"])


def dump_line(conv: dict) -> str:
    return json.dumps({"messages": conv["messages"]}, ensure_ascii=False, separators=(", ", ": "))


WORD_SWAPS = [
    ("Hi", "Hey"), ("Hey", "Hi"), ("How do I", "How can I"), ("Can I", "Could I"), ("Thanks", "Thank you"),
    ("need", "want"), ("my", "the"), ("What's", "What is"), ("I'm", "I am"), ("don't", "do not"),
    ("really", "very"), ("please", "pls"), ("office", "workplace"), ("laptop", "computer"),
    ("get", "receive"), ("Where", "where"),
]


def near_edit(conv: dict, rng: random.Random) -> tuple[dict, str]:
    msgs = [dict(m) for m in conv["messages"]]
    ui = next(i for i, m in enumerate(msgs) if m["role"] == "user")
    text = msgs[ui]["content"]
    kinds = ["punct", "word", "case", "answer_punct"]
    rng.shuffle(kinds)
    for kind in kinds:
        new = text
        if kind == "punct":
            if new.endswith("?"):
                new = new[:-1]
            elif new.endswith("."):
                new = new[:-1] + "!"
            else:
                new = new + "?"
        elif kind == "word":
            swaps = list(WORD_SWAPS)
            rng.shuffle(swaps)
            for a, b in swaps:
                pat = re.compile(r"\b" + re.escape(a) + r"\b")
                if pat.search(new):
                    new = pat.sub(b, new, count=1)
                    break
        elif kind == "case":
            new = new[0].swapcase() + new[1:]
        elif kind == "answer_punct":
            ai = ui + 1
            ans = msgs[ai]["content"]
            edited = ans.replace(". ", ", ", 1) if ". " in ans else ans.rstrip(".") + "!"
            if edited != ans:
                msgs[ai]["content"] = edited
                return {"messages": msgs}, kind
            continue
        if new != text:
            msgs[ui]["content"] = new
            return {"messages": msgs}, kind
    raise RuntimeError("could not make a near-duplicate")


def build_splits(rng: random.Random):
    targets = {"test": N_TEST, "validation": N_VALID, "train": N_TRAIN - N_EXACT_DUP - N_NEAR_DUP}
    out = {k: [] for k in targets}
    seen_conv: set[str] = set()
    first_by_split = {k: set() for k in targets}
    order = ["test", "validation", "train"]
    attempts = 0
    while any(len(out[k]) < targets[k] for k in order):
        attempts += 1
        if attempts > 200_000:
            raise RuntimeError("could not generate enough unique conversations")
        conv = make_conversation(rng)
        if conv_chars(conv) > MAX_CONV_CHARS:
            continue
        open_ = [k for k in order if len(out[k]) < targets[k]]
        # Spread draws over splits in proportion to what is still missing.
        split = rng.choices(open_, weights=[targets[k] - len(out[k]) for k in open_], k=1)[0]
        key = conv_key(conv)
        if key in seen_conv:
            continue
        fu = norm(first_user(conv))
        others = [k for k in targets if k != split]
        if any(fu in first_by_split[k] for k in others):
            continue
        seen_conv.add(key)
        first_by_split[split].add(fu)
        out[split].append(conv)

    # Plant exact and near duplicates in train.
    train = out["train"]
    picks = rng.sample(range(len(train)), N_EXACT_DUP + N_NEAR_DUP)
    exact_src, near_src = picks[:N_EXACT_DUP], picks[N_EXACT_DUP:]
    items = [(conv, {"id": i}) for i, conv in enumerate(train)]
    existing = {dump_line(c) for c in train}
    for i in exact_src:
        items.append(({"messages": [dict(m) for m in train[i]["messages"]]}, {"exact_of": i}))
    edit_kinds = {}
    for i in near_src:
        new, kind = near_edit(train[i], rng)
        line = dump_line(new)
        if line in existing:
            raise RuntimeError("near duplicate collided with an existing conversation")
        existing.add(line)
        edit_kinds[kind] = edit_kinds.get(kind, 0) + 1
        items.append((new, {"near_of": i, "edit": kind}))
    rng.shuffle(items)
    pos_of_id = {tag["id"]: n for n, (_, tag) in enumerate(items) if "id" in tag}
    planted = {"exact": [], "near": []}
    for n, (_, tag) in enumerate(items):
        if "exact_of" in tag:
            planted["exact"].append({"line": n + 1, "duplicate_of_line": pos_of_id[tag["exact_of"]] + 1})
        elif "near_of" in tag:
            planted["near"].append({"line": n + 1, "near_duplicate_of_line": pos_of_id[tag["near_of"]] + 1,
                                    "edit": tag["edit"]})
    out["train"] = [conv for conv, _ in items]
    meta = {tid: (conv.get("_intent"), conv.get("_cat")) for tid, conv in enumerate(train)}
    return out, planted, dict(sorted(edit_kinds.items())), meta


# ---------------------------------------------------------------------------
# Pretraining corpus: company documents (never chat markup)
# ---------------------------------------------------------------------------
def fmt(template: str, rng: random.Random, extra: dict | None = None) -> str:
    vals = dict(FACTS)
    if extra:
        vals.update(extra)
    return render(template, rng, vals)


DAY0 = dt.date(2023, 1, 2)
DAY_SPAN = 1080  # documents are dated between January 2023 and December 2025


def rand_day(rng: random.Random) -> dt.date:
    return DAY0 + dt.timedelta(days=rng.randrange(DAY_SPAN))


def fmt_date(d: dt.date, style: int = 1) -> str:
    if style == 0:
        return d.isoformat()
    if style == 1:
        return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def rand_date(rng: random.Random, style: int | None = None) -> str:
    d = rand_day(rng)
    return fmt_date(d, rng.randrange(3) if style is None else style)


def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """n-th given weekday (0=Monday) of a month; n=-1 means the last one."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def holiday_date(name: str, year: int) -> dt.date:
    fixed = {"Independence Day": (7, 4), "Juneteenth": (6, 19), "Freedom Day": (4, 25), "Portugal Day": (6, 10),
             "Assumption Day": (8, 15), "Republic Day": (10, 5), "Saint Anthony's Day": (6, 13), "Canada Day": (7, 1)}
    if name in fixed:
        return dt.date(year, *fixed[name])
    if name == "Memorial Day":
        return nth_weekday(year, 5, 0, -1)
    if name in ("Labor Day", "Labour Day"):
        return nth_weekday(year, 9, 0, 1)
    if name == "Thanksgiving":
        return nth_weekday(year, 11, 3, 4)
    if name == "Victoria Day":
        d = dt.date(year, 5, 24)
        return d - dt.timedelta(days=d.weekday())
    if name == "Civic Holiday":
        return nth_weekday(year, 8, 0, 1)
    if name == "Canadian Thanksgiving":
        return nth_weekday(year, 10, 0, 2)
    raise KeyError(name)


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def pick_sentences(rng: random.Random, pool: list[str], lo: int, hi: int, extra=None) -> list[str]:
    k = min(len(pool), rng.randint(lo, hi))
    idx = sorted(rng.sample(range(len(pool)), k))
    return [fmt(pool[i], rng, extra) for i in idx]


HANDBOOK = [
    ("3.1", "Paid Time Off", [
        "Full-time employees receive {pto_days} days of paid time off (PTO) per calendar year.",
        "Public holidays are not deducted from PTO; each office publishes its own holiday calendar in {hr_portal}.",
        "PTO is requested through the Time Off page in {hr_portal} and approved by the employee's manager.",
        "Requests for three or more consecutive days should be submitted at least {pto_notice} in advance.",
        "Up to {pto_carry} unused days may be carried into the next calendar year and must be used by {carry_deadline}.",
        "Days above the carry-over limit are forfeited at the end of the year.",
        "Unused PTO is not paid out during employment, except where local law requires it.",
        "Part-time employees receive PTO pro-rated to their working pattern; for example, three days a week gives 15 days.",
        "Contractors are not covered by this policy; their time off is governed by their contract.",
        "Managers are encouraged to make sure every team member takes at least one full week off each year.",
        "If a manager is absent, PTO requests are routed to their delegate in {hr_portal}.",
    ]),
    ("3.2", "Sick Leave", [
        "Employees receive {sick_days} paid sick days per calendar year, separate from PTO.",
        "Notify your manager as early as possible on the day and record the absence as Sick in {hr_portal}.",
        "A doctor's note is required for absences of more than {note_after} consecutive days.",
        "Sick leave is pro-rated for part-time employees.",
        "Sick days may also be used to care for a sick child or dependant.",
        "Longer illnesses are handled case by case with the People team at {hr_email}.",
        "Sick leave does not carry over to the following year.",
    ]),
    ("3.4", "Parental Leave", [
        "All parents, including adoptive and foster parents, are entitled to {parental_weeks} weeks of fully paid parental leave.",
        "Employees become eligible after {parental_months} months of continuous employment.",
        "Leave must be taken within 12 months of the birth or placement of the child and may be split into up to three blocks.",
        "Please notify your manager and submit a request in {hr_portal} at least {parental_notice} before the planned start date.",
        "Employees who are not yet eligible should contact {hr_email} to understand the statutory leave available in their country.",
        "Benefits, including {health} cover, continue unchanged during parental leave.",
        "A phased return of up to four weeks at reduced hours is available after parental leave.",
    ]),
    ("4.1", "Pay and Payroll", [
        "Salaries are paid monthly on the {payday} of each month.",
        "When the {payday} falls on a weekend or public holiday, payment is made on the previous business day.",
        "Payslips are published in {hr_portal} under Pay > Documents, usually two days before payday.",
        "Employees in Lisbon are paid in euros and employees in Toronto in Canadian dollars; all offices share the same payday.",
        "Questions about payslips should be sent to {payroll_email}, who reply within two business days.",
        "Changes to bank details must be made in {hr_portal} before the 15th to take effect that month.",
    ]),
    ("4.3", "Expenses and Travel", [
        "Business expenses are submitted in {expense_tool} within {expense_days} days of purchase.",
        "Receipts are required for any item over {receipt_min}.",
        "Claims are approved by the employee's manager; claims over {finance_limit} also require Finance approval.",
        "Approved expenses are reimbursed with the next payroll.",
        "The meal per diem during business travel is {per_diem} per day.",
        "Flights and hotels are booked through {travel_tool}.",
        "Economy class is standard; business class is permitted for flights over eight hours with VP approval.",
        "Contractors do not use {expense_tool} and should invoice eligible expenses through their agency.",
    ]),
    ("5.1", "Benefits", [
        "Health cover is provided by {health}.",
        "New employees must enrol in {hr_portal} within {enrol_days} days of their start date; otherwise they wait until open enrolment.",
        "Partners and children can be added to the plan during enrolment or after a qualifying life event.",
        "Every employee receives a {wellness} annual wellness stipend and a {learning} annual learning budget.",
        "In the United States, the company matches 401(k) contributions up to {match} of salary.",
        "Part-time employees working at least {benefits_hours} hours per week are eligible for benefits.",
        "Unused wellness stipend does not roll over into the next year.",
    ]),
    ("2.2", "Your First Weeks", [
        "On the first day, new employees arrive at reception at 9:30, where their manager meets them.",
        "Each new employee is paired with an onboarding buddy from a neighbouring team.",
        "The Northwind 101 orientation runs every Monday at 10:00 in each office and online.",
        "The onboarding checklist in {hr_portal} covers accounts, security training and benefits enrolment.",
        "Please bring a photo ID for your building badge on day one.",
        "Managers hold a 90-day check-in with every new employee.",
    ]),
    ("6.1", "Performance Reviews", [
        "Performance reviews take place twice a year, in {review_months}.",
        "Each cycle begins with a self-assessment written in {hr_portal}, due two weeks before the cycle closes.",
        "Managers share written feedback and discuss it in a 1:1 meeting.",
        "Compensation changes are decided in the April cycle; the October cycle focuses on feedback and goals.",
        "Employees who joined less than three months before a cycle starts skip that cycle and have a check-in instead.",
        "Calibration sessions make sure ratings are consistent across teams.",
    ]),
    ("7.1", "Hybrid and Remote Work", [
        "Northwind Robotics works in a hybrid model.",
        "Teams meet in the office on anchor days, {anchor_days}.",
        "On other days employees may work from home.",
        "Fully remote arrangements require approval from the relevant VP.",
        "Each employee can claim a one-time {home_office} home office allowance in {expense_tool}.",
        "Employees may work from another country for up to {abroad_days} working days per year.",
        "Working abroad requires approval from the manager and HR in {hr_portal}, requested at least {abroad_notice} in advance.",
        "Stays abroad beyond {abroad_days} working days require a formal review by HR and Legal.",
    ]),
    ("8.1", "Speaking Up", [
        "Northwind Robotics does not tolerate harassment, bullying or discrimination.",
        "Concerns can be raised with any manager, with the People team at {hr_email}, or anonymously through the {ethics_line} portal.",
        "Reports made through {ethics_line} are anonymous unless the reporter chooses to give their name.",
        "Retaliation against anyone who raises a concern in good faith is itself a serious policy violation.",
        "The People team acknowledges every report within two business days.",
    ]),
]

ENG_PAGES = [
    ("Continuous Integration with {ci}", [
        "Every merge request triggers a pipeline in {ci}.",
        "The pipeline runs lint, unit tests and integration tests against simulated {amr} robots.",
        "A typical pipeline finishes in about {ci_minutes} minutes.",
        "The main branch must stay green; merges are blocked until all required checks pass.",
        "Flaky tests should be re-run once, tagged @flaky and reported in {ci_channel}.",
        "The CI working group triages flaky tests every week.",
        "Pipeline definitions live next to the code in the {monorepo} monorepo.",
        "Build caches are shared between pipelines; a clean-cache re-run fixes most local-versus-CI differences.",
    ]),
    ("Code Review Guidelines", [
        "Every merge request needs {approvals} approval from a code owner.",
        "Safety-critical code under {safety_path} needs {approvals_safety} approvals.",
        "Keep merge requests under {pr_lines} changed lines where possible.",
        "Reviewers are expected to respond within {review_sla}.",
        "Self-approval does not count towards the required approvals.",
        "Merge requests are squash-merged once CI is green.",
        "Titles reference the ticket in the {ticket_project} project.",
        "Code owners for each directory are listed in {catalog}.",
        "Reviews focus on correctness, safety and readability rather than personal style.",
    ]),
    ("Deploying to Production", [
        "All production deploys go through {deploy_tool}.",
        "The deploy window is {window}.",
        "On Fridays, deploys are allowed until {friday_cutoff}; after {friday_cutoff} the weekend deploy freeze begins.",
        "There are no deploys on Saturdays or Sundays.",
        "The annual holiday freeze runs from {holiday_freeze}.",
        "Hotfixes during a freeze need approval from the incident commander or an engineering director and are logged in {incident_channel}.",
        "After each deploy, watch the service dashboards in {monitoring} for at least fifteen minutes.",
        "{deploy_tool} rolls out to a canary site first, then to the rest of the fleet.",
    ]),
    ("On-call Handbook", [
        "On-call rotations are weekly and hand over on {oncall_start}.",
        "Pages are delivered by {pager}.",
        "SEV1 pages must be acknowledged within {ack_minutes} minutes; unacknowledged pages escalate to the secondary.",
        "Engineers receive a {oncall_stipend} stipend for each week on call.",
        "Shift swaps are made as overrides in {pager} and announced in the team channel.",
        "A short hand-off meeting takes place at every rotation change.",
        "Runbooks for each service are linked from {catalog}.",
    ]),
    ("Incident Process", [
        "Anyone can declare an incident with the /incident command in {incident_channel}.",
        "SEV1 is a customer-facing outage, SEV2 a significant degradation and SEV3 a minor issue.",
        "An incident commander is assigned to every SEV1 and SEV2 incident.",
        "Customer-facing incidents are posted on the status page by the support lead.",
        "A blameless postmortem is written within {postmortem_days} business days.",
        "Postmortems are reviewed at the weekly operations review.",
        "Action items from postmortems are tracked as tickets in {ticket_project}.",
    ]),
    ("Repositories and Branches", [
        "All source code is hosted on {git_host}.",
        "Robot software and {fleet_sw} live in the {monorepo} monorepo.",
        "Infrastructure is defined with Terraform in the {infra_repo} repository.",
        "Branches are named username/{ticket_project}-123-short-description.",
        "Access to repositories is requested as Git group access in {servicedesk}.",
        "Force-pushing to main is disabled for everyone.",
    ]),
    ("Internal Engineering Tools", [
        "{catalog} is the service catalog, listing owners, on-call rotations and runbooks.",
        "{wiki} is the internal wiki.",
        "{monitoring} hosts dashboards, metrics and logs.",
        "{ci} runs continuous integration.",
        "{deploy_tool} performs production deploys.",
        "{pager} manages on-call schedules and paging.",
        "Questions about any tool can be asked in {eng_help}.",
    ]),
]

IT_ARTICLES = [
    ("Connecting to the VPN", ["macOS", "Windows 11"], [
        "Open the {vpn_client} client from the menu bar or Start menu.",
        "Enter the gateway address {vpn_gateway} if it is not already filled in.",
        "Sign in with your Northwind ID and password.",
        "Approve the push notification in {mfa_app}.",
        "Wait for the status to show Connected before opening internal sites.",
    ], [
        "If authentication fails, check whether your password has expired at {id_portal}.",
        "Some hotel and airport networks block VPN traffic; a phone hotspot is a good test.",
        "The VPN is not needed on {wifi_corp} inside the office.",
        "If {vpn_client} is missing, install it from Self Service or Software Center.",
    ]),
    ("Resetting Your Password", ["all devices"], [
        "Go to {id_portal} and choose Forgot password.",
        "Enter your Northwind ID.",
        "Confirm the request in {mfa_app}.",
        "Choose a new password of at least {pw_min} characters.",
        "Sign in again on your laptop and phone with the new password.",
    ], [
        "Passwords expire every {pw_expiry} days and reminders start 14 days before expiry.",
        "Your last ten passwords cannot be reused.",
        "If you are fully locked out, call the helpdesk on extension {helpdesk_ext}.",
        "Outside helpdesk hours, urgent lockouts are handled by the on-call line at {it_after_hours}.",
    ]),
    ("Setting Up Multi-Factor Authentication", ["iOS", "Android"], [
        "Install {mfa_app} from your phone's app store.",
        "Sign in to {id_portal} and open Security > Devices.",
        "Scan the QR code with {mfa_app}.",
        "Approve the test notification.",
    ], [
        "When changing phones, add the new device before wiping the old one.",
        "If your phone is lost, the helpdesk can issue a temporary code valid for {temp_code_hours} hours.",
        "Engineers with production access also receive a hardware security key.",
        "MFA cannot be disabled for any account.",
    ]),
    ("Printing in the Office", ["macOS", "Windows 11"], [
        "Add the {print_queue} queue from Self Service or Software Center.",
        "Print your document to {print_queue}.",
        "Walk to any office printer.",
        "Tap your badge on the reader to release your job.",
    ], [
        "Jobs are held for 24 hours and then deleted.",
        "Personal devices cannot print to office printers.",
        "Paper jams and empty toner can be reported at {servicedesk_url}.",
    ]),
    ("Office Wi-Fi", ["all devices"], [
        "On a company laptop, select {wifi_corp}.",
        "Sign in with your Northwind ID; there is no shared password.",
        "For personal devices and visitors, select {wifi_guest}.",
        "Ask reception for this week's {wifi_guest} password.",
    ], [
        "The {wifi_guest} password changes every Monday.",
        "Personal devices must not be connected to {wifi_corp}.",
        "If {wifi_corp} does not appear, forget the network and reconnect, then contact the helpdesk on {helpdesk_ext}.",
    ]),
    ("Requesting a Laptop or Accessories", ["all staff"], [
        "Open {servicedesk_url} and choose Hardware.",
        "Select the item you need and give a short business reason.",
        "Your manager approves the request.",
        "IT delivers the item within about {laptop_days} business days.",
    ], [
        "Engineers receive a {laptop_eng}; other roles receive a {laptop_std}.",
        "Laptops are refreshed every {laptop_refresh} years.",
        "Loaner laptops are available while a repair is in progress.",
        "Personal laptops cannot be connected to internal systems.",
    ]),
    ("Requesting Software", ["all staff"], [
        "Open the Software Catalog in {servicedesk_url}.",
        "Search for the application you need.",
        "Pre-approved applications install automatically.",
        "For other applications, submit a request with a business reason.",
    ], [
        "Applications that are not pre-approved go through a security review of about {licence_days} business days.",
        "Paid licences are charged to the team's cost centre and need manager approval.",
        "Do not install software from unofficial sources.",
    ]),
    ("Reporting Phishing", ["Outlook", "mobile mail"], [
        "Do not click links or open attachments in the suspicious message.",
        "Use the Report Phish button in Outlook.",
        "On a phone, forward the message as an attachment to {phish_email}.",
        "Delete the message after reporting it.",
    ], [
        "IT will never ask for your password by email or chat.",
        "If you clicked a link or entered your password, change it at {id_portal} and call the helpdesk on {helpdesk_ext} immediately.",
        "Out of hours, call the IT on-call line at {it_after_hours}.",
        "Lost or stolen devices must be reported to {security_email} as well as to IT.",
    ]),
]

HOLIDAYS = {
    "Portland": ["Memorial Day", "Independence Day", "Labor Day", "Thanksgiving", "Juneteenth"],
    "Austin": ["Memorial Day", "Independence Day", "Labor Day", "Thanksgiving", "Juneteenth"],
    "Lisbon": ["Freedom Day", "Portugal Day", "Assumption Day", "Republic Day", "Saint Anthony's Day"],
    "Toronto": ["Victoria Day", "Canada Day", "Civic Holiday", "Labour Day", "Canadian Thanksgiving"],
}
CUSTOMERS = ["Bluefield Logistics", "Harbor & Pine Grocers", "Mesa Freight", "Larkspur Pharma Distribution",
             "Cobalt Home Goods", "Riverbend Parts", "Sunline Apparel", "Northgate Foods", "Orchard Books",
             "Atlas Cold Storage", "Pinecrest Hardware", "Vantage Electronics", "Greenway Pet Supply",
             "Kinetic Auto Parts", "Summit Outdoor"]
INDUSTRIES = ["grocery", "e-commerce", "pharmaceutical", "third-party logistics", "automotive parts", "apparel",
              "consumer electronics", "cold-chain", "publishing", "home improvement"]
CITIES = ["Reno", "Columbus", "Rotterdam", "Memphis", "Lyon", "Leeds", "Monterrey", "Calgary", "Porto", "Sacramento",
          "Dallas", "Madrid", "Hamburg", "Phoenix", "Montreal"]
METRICS = ["pick rate", "order cycle time", "robot downtime", "mean time to recovery", "charging idle time",
           "mis-picks", "travel distance per order", "support ticket volume", "build time", "onboarding time"]
SVC_PREFIX = ["fleet", "map", "route", "battery", "vision", "order", "dock", "telemetry", "lift", "charge", "task", "safety"]
SVC_SUFFIX = ["router", "sync", "api", "worker", "gateway", "planner", "store", "monitor"]
LANGS = ["Rust", "Python", "Go", "C++"]
PURPOSE = {
    "fleet": "coordinates the state of every robot at a customer site",
    "map": "maintains the warehouse maps that robots navigate with",
    "route": "computes collision-free paths for {amr} robots",
    "battery": "tracks battery health and predicts when robots need charging",
    "vision": "runs the perception models used by {arm} picking arms",
    "order": "receives customer orders and splits them into robot tasks",
    "dock": "manages loading docks and hand-offs to conveyors",
    "telemetry": "collects metrics and logs from robots in the field",
    "lift": "controls lifting modules on {amr} robots",
    "charge": "schedules charging stations across a site",
    "task": "assigns tasks to robots based on location and battery",
    "safety": "enforces speed limits and safety zones near people",
}


def build_services(rng: random.Random) -> list[dict]:
    names = sorted(f"{p}-{s}" for p in SVC_PREFIX for s in SVC_SUFFIX)
    chosen = sorted(rng.sample(names, 48))
    services = []
    for name in chosen:
        services.append({
            "name": name,
            "team": rng.choice(ENG_TEAMS),
            "lang": rng.choice(LANGS),
            "slo_ms": rng.choice([50, 80, 100, 150, 200, 250, 400]),
            "slo": rng.choice(["99.5%", "99.9%", "99.95%"]),
            "deps": sorted(rng.sample([n for n in chosen if n != name], 2)),
            "lead": person(rng),
        })
    return services


def doc_handbook(rng):
    sec, title, pool = rng.choice(HANDBOOK)
    head = rng.choice([f"Employee Handbook, Section {sec}: {title}", f"{title} Policy",
                       f"Northwind Robotics Handbook - {title}", f"Policy page: {title}"])
    lines = [head]
    lines.append(fmt(rng.choice([
        "This section applies to all employees of {company} in every office unless local law says otherwise.",
        "The following policy applies to employees in {offices_list}.",
        "This page summarises the {title} policy. Where local law is more generous, local law applies.",
        "Last reviewed by the People team on {date}.",
    ]), rng, {"title": title.lower(), "date": rand_date(rng)}))
    body = pick_sentences(rng, pool, 4, 8)
    # split into one or two paragraphs (single newline, never a blank line)
    cut = rng.randint(1, len(body))
    lines.append(" ".join(body[:cut]))
    if body[cut:]:
        lines.append(" ".join(body[cut:]))
    if rng.random() < 0.4:
        office = rng.choice(OFFICES)
        lines.append(fmt(rng.choice([
            "Office note for {o}: local public holidays include {h1} and {h2}.",
            "In {o}, questions about this policy can also be raised with the local People partner.",
            "For the {o} office, payroll and holidays follow the local calendar published in {hr_portal}.",
        ]), rng, {"o": office, "h1": HOLIDAYS[office][0], "h2": rng.choice(HOLIDAYS[office][1:])}))
    lines.append(fmt(rng.choice([
        "Questions about this section can be sent to {hr_email} or asked in {hr_slack}.",
        "For anything not covered here, contact the People team at {hr_email}.",
        "See {hr_portal} for forms and your personal balances.",
    ]), rng))
    return "\n".join(lines)


def doc_it(rng):
    title, platforms, steps, tips = rng.choice(IT_ARTICLES)
    lines = [rng.choice([f"IT How-To: {title}", f"{title}", f"Knowledge base: {title}", f"Guide - {title}"])]
    lines.append(f"Applies to: {rng.choice(platforms)}. Last updated {rand_date(rng)}.")
    for n, s in enumerate(steps, 1):
        lines.append(f"{n}. {fmt(s, rng)}")
    t = pick_sentences(rng, tips, 2, 4)
    lines.append("Tips: " + " ".join(t))
    lines.append(fmt(rng.choice([
        "Still stuck? Call the helpdesk on extension {helpdesk_ext} or open a ticket at {servicedesk_url}.",
        "The helpdesk is on extension {helpdesk_ext}, {helpdesk_hours}.",
        "For help, email {helpdesk_email}. Urgent issues out of hours: {it_after_hours}.",
    ]), rng))
    return "\n".join(lines)


def doc_eng(rng):
    title, pool = rng.choice(ENG_PAGES)
    title = fmt(title, rng)
    lines = [rng.choice([f"Engineering wiki: {title}", title, f"{title} (Compass)", f"Eng handbook - {title}"])]
    lines.append(f"Owner: {rng.choice(ENG_TEAMS)} team. Reviewed {rand_date(rng)}.")
    body = pick_sentences(rng, pool, 4, 8)
    cut = rng.randint(1, len(body))
    lines.append(" ".join(body[:cut]))
    if body[cut:]:
        lines.append(" ".join(body[cut:]))
    lines.append(fmt("Questions go to {eng_help} on Slack.", rng))
    return "\n".join(lines)


def doc_service(rng, services):
    s = rng.choice(services)
    prefix = s["name"].split("-")[0]
    purpose = fmt(PURPOSE[prefix], rng)
    lines = [rng.choice([f"Service: {s['name']}", f"{s['name']} service overview", f"Runbook: {s['name']}"])]
    lines.append(f"{s['name']} {purpose}. It is written in {s['lang']} and owned by the {s['team']} team; the tech lead is {s['lead']}.")
    opts = [
        f"The code is in the {FACTS['monorepo']} monorepo at {FACTS['git_host']}/fleet/services/{s['name']}.",
        f"It depends on {s['deps'][0]} and {s['deps'][1]}.",
        f"The SLO is {s['slo']} of requests served in under {s['slo_ms']} ms, measured in {FACTS['monitoring']}.",
        f"Deploys go through {FACTS['deploy_tool']} during the normal deploy window; no deploys on Fridays after {FACTS['friday_cutoff']}.",
        f"Alerts page the {s['team']} on-call through {FACTS['pager']}; SEV1 pages must be acknowledged within {FACTS['ack_minutes']} minutes.",
        f"Ownership and the on-call rotation are recorded in {FACTS['catalog']}.",
        f"Changes under {FACTS['safety_path']} that affect this service need {FACTS['approvals_safety']} approvals.",
    ]
    k = rng.randint(3, len(opts))
    idx = sorted(rng.sample(range(len(opts)), k))
    lines.append(" ".join(opts[i] for i in idx))
    if rng.random() < 0.7:
        steps = [
            f"Check the {s['name']} dashboard in {FACTS['monitoring']} for error rate and latency.",
            f"Confirm that {s['deps'][0]} is healthy.",
            f"If the last deploy was within the hour, roll back in {FACTS['deploy_tool']}.",
            "Restart unhealthy instances one at a time.",
            f"If customers are affected, declare an incident in {FACTS['incident_channel']}.",
            "Record what you did in the incident channel.",
        ]
        k = rng.randint(3, len(steps))
        idx = sorted(rng.sample(range(len(steps)), k))
        lines.append("Runbook:")
        for n, i in enumerate(idx, 1):
            lines.append(f"{n}. {steps[i]}")
    return "\n".join(lines)


ANNOUNCE_KINDS = ["holiday", "newhires", "freeze", "review", "benefits", "phishing", "maintenance",
                  "allhands", "release", "facilities", "customer", "password", "oncall"]


def doc_announcement(rng, services):
    kind = rng.choice(ANNOUNCE_KINDS)
    posted = rand_day(rng)
    date = fmt_date(posted)
    if kind == "holiday":
        office = rng.choice(OFFICES)
        hol = rng.choice(HOLIDAYS[office])
        when = holiday_date(hol, rng.choice([2023, 2024, 2025]))
        posted = when - dt.timedelta(days=rng.randint(5, 20))
        date = fmt_date(posted)
        title = f"{office} office closed for {hol}"
        body = [f"The {office} office will be closed on {MONTHS[when.month - 1]} {when.day}, {when.year} for {hol}.",
                "Public holidays do not count against your PTO.",
                rng.choice(["Please plan handovers with colleagues in other offices.",
                            "On-call rotations continue as normal.",
                            "Deliveries scheduled for that day will be accepted the next business day."])]
        sender = "People team"
    elif kind == "newhires":
        n = rng.randint(3, 7)
        names = [f"{person(rng)} ({rng.choice(TEAMS)}, {rng.choice(OFFICES)})" for _ in range(n)]
        title = "Welcome to our new colleagues"
        body = ["Please give a warm welcome to the people who joined us this week: " + "; ".join(names) + ".",
                "They will attend Northwind 101 on Monday at 10:00 and have been paired with onboarding buddies.",
                rng.choice(["Say hello in the kitchen on Tuesday or Thursday, our anchor days.",
                            "If you see them around, introduce yourself!"])]
        sender = "People team"
    elif kind == "freeze":
        posted = dt.date(rng.choice([2023, 2024, 2025]), rng.choice([11, 12]), 1) + dt.timedelta(days=rng.randint(0, 14))
        if posted.month == 12 and posted.day > 10:
            posted = posted.replace(day=10)
        date = fmt_date(posted)
        title = rng.choice(["Reminder: holiday deploy freeze", "Deploy freeze reminder"])
        body = [fmt("The holiday deploy freeze runs from {holiday_freeze}.", rng),
                fmt("As always, regular weekly freezes apply after {friday_cutoff} on Fridays and at weekends.", rng),
                fmt("Hotfixes during the freeze need incident commander approval and must be logged in {incident_channel}.", rng),
                rng.choice(["Please land risky changes early in December.",
                            f"Thank you to the {rng.choice(ENG_TEAMS)} team for cleaning up the release backlog."])]
        sender = "Engineering leadership"
    elif kind == "review":
        cycle = rng.choice(["April", "October"])
        posted = dt.date(rng.choice([2023, 2024, 2025]), 4 if cycle == "April" else 10, rng.randint(1, 8))
        date = fmt_date(posted)
        title = f"{cycle} performance review cycle starts"
        body = [f"The {cycle} review cycle opens on {date}.",
                fmt("Self-assessments are written in {hr_portal} and are due two weeks before the cycle closes.", rng),
                "April reviews include compensation decisions; October reviews focus on feedback and goals." if cycle == "April"
                else "The October cycle focuses on feedback and goals; compensation is reviewed in April.",
                fmt("Questions can go to {hr_slack}.", rng)]
        sender = "People team"
    elif kind == "benefits":
        title = rng.choice(["Benefits reminder", "Use your wellness and learning budgets"])
        body = pick_sentences(rng, [
            "Every employee has a {wellness} wellness stipend and a {learning} learning budget each year.",
            "Unused wellness stipend does not roll over.",
            "Claims are made in {expense_tool} with a receipt.",
            "Open enrolment for {health} cover runs for the first two weeks of November.",
            "New employees must enrol within {enrol_days} days of their start date.",
            "US employees can review their 401(k) contributions; the company matches up to {match}.",
        ], 3, 5)
        sender = "People team"
    elif kind == "phishing":
        pct = rng.randint(3, 14)
        rep = rng.randint(40, 85)
        title = "Phishing simulation results"
        body = [f"Last month's phishing simulation went to every employee. {pct}% clicked the link and {rep}% reported it.",
                fmt("Report suspicious messages with the Report Phish button or by forwarding them to {phish_email}.", rng),
                fmt("If you clicked a real phishing link, change your password at {id_portal} and call the helpdesk on {helpdesk_ext}.", rng)]
        sender = "Security team"
    elif kind == "maintenance":
        what = rng.choice(["VPN gateway", "{wifi_corp} network in Portland", "{id_portal} sign-in service",
                           "{print_queue} print servers", "{servicedesk} portal"])
        what = fmt(what, rng)
        start = rng.choice(["19:00", "20:00", "21:00", "22:00"])
        title = f"Planned maintenance: {what}"
        when = fmt_date(posted + dt.timedelta(days=rng.randint(2, 10)))
        body = [f"The {what} will be unavailable on {when} from {start} for about two hours.",
                rng.choice(["No action is needed.", "Please save your work before the window starts.",
                            "Existing sessions may be disconnected."]),
                fmt("During the window, urgent issues can be reported to the IT on-call line at {it_after_hours}.", rng)]
        sender = "IT"
    elif kind == "allhands":
        topics = rng.sample(["quarterly results", "the new {amr} release", "hiring plans", "customer stories",
                             "the Lisbon office expansion", "security updates", "the benefits renewal",
                             "{fleet_sw} roadmap", "safety certification progress"], 3)
        title = "Monthly all-hands"
        when = fmt_date(posted + dt.timedelta(days=rng.randint(3, 14)))
        body = [f"The next all-hands is on {when} at 09:00 Pacific, streamed to all offices.",
                fmt("Topics: " + ", ".join(topics) + ".", rng),
                "Questions can be submitted in advance; the recording will be posted on Compass."]
        sender = "CEO office"
    elif kind == "release":
        major, minor = rng.randint(3, 6), rng.randint(0, 12)
        prod = rng.choice([FACTS["amr"], FACTS["arm"], FACTS["fleet_sw"]])
        feats = rng.sample(["faster charging handoffs", "better obstacle detection in narrow aisles",
                            "lower idle power draw", "improved pick accuracy on soft packaging",
                            "a new site health dashboard", "smoother multi-floor routing",
                            "quicker map updates", "support for cold-storage zones"], 2)
        title = f"{prod} {major}.{minor} released"
        body = [f"{prod} {major}.{minor} has been rolled out to all customer sites through {FACTS['deploy_tool']}.",
                f"Highlights include {feats[0]} and {feats[1]}.",
                f"Thanks to the {rng.choice(ENG_TEAMS)} and QA teams for a smooth rollout."]
        sender = "Product team"
    elif kind == "facilities":
        office = rng.choice(OFFICES)
        item = rng.choice(["a new espresso machine on the second floor", "extra bike parking in the garage",
                           "two new quiet rooms", "standing desks in the open area", "a refurbished robot test lab",
                           "new lockers near reception", "a parents' room on the third floor"])
        title = f"{office} office update"
        body = [f"The {office} office now has {item}.",
                rng.choice(["Please keep shared spaces tidy.", "Feedback is welcome in the office channel.",
                            "Bookings work through the usual room calendar."])]
        sender = "Workplace team"
    elif kind == "customer":
        cust = rng.choice(CUSTOMERS)
        n = rng.choice([12, 20, 35, 48, 60, 80, 120])
        title = f"Customer win: {cust}"
        body = [f"{cust} has signed up for {n} {FACTS['amr']} robots across its {rng.choice(CITIES)} distribution centre.",
                f"Go-live is planned for {fmt_date(posted + dt.timedelta(days=rng.randint(30, 150)))}, led by the Field Service team.",
                f"Congratulations to {person(rng)} and the Sales team."]
        sender = "Sales"
    elif kind == "password":
        title = "Password expiry reminders"
        body = [fmt("Northwind ID passwords expire every {pw_expiry} days and must be at least {pw_min} characters.", rng),
                fmt("Change yours at {id_portal} when the reminder arrives.", rng),
                fmt("MFA with {mfa_app} is required for every account.", rng)]
        sender = "IT"
    else:  # oncall
        s = rng.choice(services)
        title = f"On-call changes for {s['name']}"
        body = [f"From {fmt_date(posted + dt.timedelta(days=rng.randint(3, 21)))}, {s['name']} moves to the {s['team']} team's rotation in {FACTS['pager']}.",
                fmt("Rotations continue to hand over on {oncall_start}.", rng),
                f"Runbooks have been updated in {FACTS['catalog']}."]
        sender = "Engineering"
    lines = [f"Announcement: {title}", f"From: {sender}. Posted {date}."]
    lines.append(" ".join(body))
    return "\n".join(lines)


MEETING_KINDS = {
    "eng": ["sprint review", "architecture sync", "incident review", "CI working group", "release planning",
            "on-call hand-off"],
    "ops": ["site rollout check-in", "customer escalation review", "field service weekly", "supply chain sync"],
    "people": ["People team weekly", "onboarding working group", "benefits renewal sync", "hiring committee"],
    "it": ["IT operations weekly", "security review", "hardware refresh planning"],
}
AGENDA = {
    "eng": ["flaky tests in {ci}", "migration of {svc} to the new cluster", "latency of {svc}", "review turnaround times",
            "the holiday deploy freeze ({holiday_freeze})", "postmortem follow-ups", "on-call load",
            "merge request size", "{fleet_sw} roadmap items", "test coverage for {safety_path}"],
    "ops": ["go-live at {cust}", "robot downtime at {cust}", "spare parts stock", "training for site operators",
            "charging station layout", "support ticket trends"],
    "people": ["review cycle timeline", "parental leave questions", "new hire onboarding feedback",
               "wellness stipend usage", "hybrid anchor days", "working abroad requests"],
    "it": ["laptop refresh ({laptop_refresh}-year cycle)", "phishing simulation results", "VPN capacity",
           "MFA hardware keys for engineers", "software licence reviews", "guest Wi-Fi password rotation"],
}
DECISIONS = {
    "eng": ["Keep the Friday deploy cutoff at {friday_cutoff}.", "Flaky tests will be quarantined after two failures.",
            "Merge requests over {pr_lines} lines need a short design note.", "{svc} gets a dedicated dashboard in {monitoring}.",
            "Postmortems stay due within {postmortem_days} business days."],
    "ops": ["Weekly check-ins with {cust} continue until go-live.", "Field Service will keep two spare {amr} units on site.",
            "Operator training moves to a two-day format."],
    "people": ["Self-assessment reminders will go out a week earlier.", "Onboarding buddies get a short guide.",
               "The working abroad FAQ will be updated on {wiki}."],
    "it": ["Hardware keys will be shipped to all engineers with production access.",
           "The software catalog will list {licence_days}-day review times.", "VPN gateway capacity doubles next quarter."],
}
ACTIONS = ["update the page on {wiki}", "file tickets in {ticket_project}", "share numbers at the next sync",
           "draft the announcement", "check with {hr_email}", "schedule a follow-up", "update the runbook in {catalog}",
           "send the summary to the team channel", "review the dashboard in {monitoring}", "talk to the customer"]


def doc_meeting(rng, services):
    area = rng.choice(sorted(MEETING_KINDS))
    mtype = rng.choice(MEETING_KINDS[area])
    day = rand_day(rng)
    date = fmt_date(day, 0)
    attendees = sorted({person(rng) for _ in range(rng.randint(3, 6))})
    extra = {"svc": rng.choice(services)["name"], "cust": rng.choice(CUSTOMERS)}
    lines = [f"Meeting notes: {mtype}, {date}", "Attendees: " + ", ".join(attendees) + "."]
    agenda = pick_sentences(rng, AGENDA[area], 2, 4, extra)
    lines.append("Agenda: " + "; ".join(agenda) + ".")
    discussion = []
    for item in agenda:
        discussion.append(rng.choice([
            f"{rng.choice(attendees).split()[0]} gave an update on {item}.",
            f"The group discussed {item} and agreed it needs more data.",
            f"On {item}, progress is on track.",
            f"{item[0].upper() + item[1:]} is slightly behind plan; a follow-up is scheduled.",
        ]))
    lines.append("Discussion: " + " ".join(discussion))
    lines.append("Decisions: " + " ".join(pick_sentences(rng, DECISIONS[area], 1, 2, extra)))
    lines.append("Action items:")
    for action in rng.sample(ACTIONS, rng.randint(2, 4)):
        who = rng.choice(attendees).split()[0]
        due = fmt_date(day + dt.timedelta(days=rng.randint(3, 21)))
        lines.append(f"- {who} to {fmt(action, rng, extra)} by {due}.")
    return "\n".join(lines)


PROSE_TEMPLATES = [
    "In Q{q} {year}, {cust}, a {ind} company in {city}, deployed {n} {amr} robots across {k} sites.",
    "The {eng_team} team reduced {metric} by {pct}% after {change}.",
    "Customers running {fleet_sw} reported {pct}% fewer manual interventions per shift.",
    "Our {arm} picking arm now handles {n} item types at {cust}.",
    "{cust} expanded its fleet from {k} to {n} robots after a successful pilot in {city}.",
    "The {team} team is hiring in {office}, with a focus on {skill}.",
    "Average {metric} across the fleet improved by {pct}% compared with the previous quarter.",
    "Field Service completed {n} site visits this quarter, most of them preventive maintenance.",
    "The {city} site of {cust} reached {pct}% of its peak-season throughput target two weeks early.",
    "Revenue from {fleet_sw} subscriptions grew {pct}% year over year.",
    "We opened a demo warehouse in {office} where customers can see {amr} and {arm} working together.",
    "The {eng_team} team finished {change} ahead of schedule.",
    "Support tickets about {topic} dropped by {pct}% after the last {fleet_sw} release.",
    "A {ind} customer in {city} is piloting {arm} arms for {task}.",
    "Warehouse automation demand remains strong in the {ind} sector, especially for {task}.",
    "Safety remains our first priority: every {amr} robot slows down automatically near people.",
    "Manufacturing in Portland produced {n} {amr} units this quarter.",
    "Our partnership with {cust} covers {k} years of {fleet_sw} software and support.",
]
CHANGES = ["moving battery telemetry to a new pipeline", "rewriting the route planner", "upgrading the map format",
           "introducing canary deploys in {deploy_tool}", "adding integration tests for {safety_path}",
           "simplifying the onboarding checklist", "redesigning the charging schedule",
           "retiring an old build cluster", "tuning the vision models", "consolidating dashboards in {monitoring}"]
SKILLS = ["embedded Rust", "motion planning", "computer vision", "site reliability", "customer success",
          "hardware testing", "data engineering", "technical writing"]
TOPICS = ["map updates", "charging", "robot localisation", "order imports", "user permissions", "dashboard access"]
TASKS = ["each picking", "returns processing", "pallet transport", "cold-room replenishment", "kitting"]
PROSE_TITLES = ["Quarterly business update", "Operations report", "Customer spotlight", "Market notes",
                "Company update", "Field report", "Product and sales summary", "Team highlights"]


def doc_prose(rng):
    q, year = rng.randint(1, 4), rng.choice([2023, 2024, 2025])
    title = f"{rng.choice(PROSE_TITLES)}: Q{q} {year}"
    lines = [title]
    for _ in range(rng.randint(1, 3)):
        sents = []
        for _ in range(rng.randint(3, 6)):
            extra = {
                "q": q, "year": year, "cust": rng.choice(CUSTOMERS), "eng_team": rng.choice(ENG_TEAMS),
                "ind": rng.choice(INDUSTRIES), "city": rng.choice(CITIES), "n": rng.choice([8, 12, 20, 24, 36, 40, 60, 90, 150]),
                "k": rng.randint(2, 6), "team": rng.choice(TEAMS), "metric": rng.choice(METRICS),
                "pct": rng.randint(4, 38), "change": fmt(rng.choice(CHANGES), rng), "office": rng.choice(OFFICES),
                "skill": rng.choice(SKILLS), "topic": rng.choice(TOPICS), "task": rng.choice(TASKS),
            }
            sents.append(fmt(rng.choice(PROSE_TEMPLATES), rng, extra))
        lines.append(" ".join(sents))
    return "\n".join(lines)


QUESTION_WORDS = {"how", "what", "what's", "where", "when", "who", "which", "can", "could", "do", "does", "is", "are", "should"}


def doc_faq(rng):
    cat = rng.choice(["hr", "it", "eng"])
    pool = [it for it in INTENTS if it["cat"] == cat and it["a"] and it["slots"] is None]
    chosen = rng.sample(pool, min(len(pool), rng.randint(3, 5)))
    name = {"hr": "People and HR", "it": "IT support", "eng": "Engineering"}[cat]
    lines = [f"Frequently asked questions: {name}"]
    vals = dict(FACTS)
    vals.update({"first": "", "office": "", "team": "", "city": rng.choice(OFFICES), "month": rng.choice(MONTHS)})
    for it in chosen:
        q = render(rng.choice(it["q"]), rng, vals)
        q = q[0].upper() + q[1:]
        if not q.endswith(("?", ".", "!")):
            q += "?" if q.split()[0].lower() in QUESTION_WORDS else "."
        lines.append(f"Q: {q}")
        lines.append(f"A: {render(rng.choice(it['a']), rng, vals)}")
    return "\n".join(lines)


GLOSSARY = [
    ("{amr}", "Northwind's autonomous mobile robot for moving totes and shelves in warehouses."),
    ("{arm}", "Northwind's robotic picking arm."),
    ("{fleet_sw}", "the fleet management software that coordinates robots at a customer site."),
    ("{hr_portal}", "the HR portal for time off, payslips, reviews and benefits."),
    ("{expense_tool}", "the expenses tool."),
    ("{travel_tool}", "the travel booking tool."),
    ("{servicedesk}", "the IT ticketing portal at {servicedesk_url}."),
    ("{vpn_client}", "the VPN client; it connects to {vpn_gateway}."),
    ("{mfa_app}", "the authenticator app used for multi-factor authentication."),
    ("{ci}", "the continuous integration system."),
    ("{deploy_tool}", "the production deploy tool."),
    ("{pager}", "the on-call and paging tool."),
    ("{catalog}", "the service catalog with owners, rotations and runbooks."),
    ("{wiki}", "the internal wiki."),
    ("{monitoring}", "the dashboards, metrics and logs tool."),
    ("{ethics_line}", "the anonymous reporting portal."),
    ("Anchor days", "{anchor_days}, when teams meet in the office."),
    ("Deploy window", "{window}; Fridays until {friday_cutoff}."),
    ("SEV1", "a customer-facing outage; pages must be acknowledged within {ack_minutes} minutes."),
    ("{ticket_project}", "the ticket project used by engineering."),
    ("{wifi_corp}", "the office Wi-Fi for company devices."),
    ("{wifi_guest}", "the Wi-Fi for visitors and personal devices."),
    ("{print_queue}", "the print queue; jobs are released by tapping your badge."),
    ("Northwind 101", "the orientation session for new employees, every Monday at 10:00."),
]


def doc_glossary(rng):
    lines = [rng.choice(["Glossary of Northwind terms", "Northwind jargon explained", "Glossary (new starters)"])]
    idx = sorted(rng.sample(range(len(GLOSSARY)), rng.randint(6, 10)))
    for i in idx:
        term, desc = GLOSSARY[i]
        lines.append(f"{fmt(term, rng)}: {fmt(desc, rng)}")
    return "\n".join(lines)


DOC_TYPES = [("handbook", 15), ("it", 11), ("eng", 10), ("service", 11), ("announcement", 16),
             ("meeting", 15), ("prose", 15), ("faq", 5), ("glossary", 2)]


def build_corpus(rng: random.Random) -> tuple[str, int, dict]:
    services = build_services(rng)
    names = [n for n, _ in DOC_TYPES]
    weights = [w for _, w in DOC_TYPES]
    docs: list[str] = []
    seen: set[str] = set()  # membership only; never iterated
    per_type = {n: 0 for n in names}
    size = 0
    while size < CORPUS_TARGET_BYTES:
        kind = rng.choices(names, weights=weights, k=1)[0]
        if kind == "handbook":
            d = doc_handbook(rng)
        elif kind == "it":
            d = doc_it(rng)
        elif kind == "eng":
            d = doc_eng(rng)
        elif kind == "service":
            d = doc_service(rng, services)
        elif kind == "announcement":
            d = doc_announcement(rng, services)
        elif kind == "meeting":
            d = doc_meeting(rng, services)
        elif kind == "prose":
            d = doc_prose(rng)
        elif kind == "faq":
            d = doc_faq(rng)
        else:
            d = doc_glossary(rng)
        assert "\n\n" not in d and d.strip() == d
        if d in seen:
            continue
        seen.add(d)
        docs.append(d)
        per_type[kind] += 1
        size += len(d.encode("utf-8")) + 2
    text = "\n\n".join(docs) + "\n"
    for bad in ("[INST]", "[/INST]", "<<SYS>>", "<s>", "</s>"):
        assert bad not in text, bad
    return text, len(docs), dict(sorted(per_type.items()))


# ---------------------------------------------------------------------------
# Output, stats and checking
# ---------------------------------------------------------------------------
SPLIT_FILES = {"train": "data/train.jsonl", "validation": "data/validation.jsonl", "test": "data/test.jsonl"}
EXPECTED = {"train": N_TRAIN, "validation": N_VALID, "test": N_TEST}


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_stats(convs: list[dict]) -> dict:
    chars = [conv_chars(c) for c in convs]
    turns = [sum(1 for m in c["messages"] if m["role"] == "user") for c in convs]
    return {
        "conversations": len(convs),
        "mean_chars": round(sum(chars) / len(chars), 1),
        "max_chars": max(chars),
        "p95_chars": sorted(chars)[int(0.95 * (len(chars) - 1))],
        "under_600_chars": sum(1 for c in chars if c < 600),
        "multi_turn": sum(1 for t in turns if t > 1),
        "three_exchanges": sum(1 for t in turns if t == 3),
        "with_system": sum(1 for c in convs if c["messages"][0]["role"] == "system"),
    }


def validate_messages(obj, where: str) -> list[str]:
    errs = []
    if not isinstance(obj, dict) or list(obj.keys()) != ["messages"]:
        return [f"{where}: top level must be an object with only 'messages'"]
    msgs = obj["messages"]
    if not isinstance(msgs, list) or len(msgs) < 2:
        return [f"{where}: messages must be a list of at least 2"]
    start = 0
    if msgs[0].get("role") == "system":
        start = 1
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or sorted(m.keys()) != ["content", "role"]:
            errs.append(f"{where}: message {i} must have exactly role and content")
            continue
        if not isinstance(m["content"], str) or not m["content"].strip():
            errs.append(f"{where}: message {i} has empty content")
        if i < start:
            continue
        want = "user" if (i - start) % 2 == 0 else "assistant"
        if m["role"] != want:
            errs.append(f"{where}: message {i} role {m['role']!r}, expected {want!r}")
    if msgs[-1].get("role") != "assistant":
        errs.append(f"{where}: must end with assistant")
    if (len(msgs) - start) % 2 != 0:
        errs.append(f"{where}: unbalanced user/assistant turns")
    return errs


def check(out: Path) -> int:
    errs: list[str] = []
    lines_by_split: dict[str, list[str]] = {}
    for split, rel in SPLIT_FILES.items():
        path = out / rel
        if not path.exists():
            errs.append(f"missing {path}")
            continue
        raw = path.read_text(encoding="utf-8")
        if not raw.endswith("\n"):
            errs.append(f"{rel}: no trailing newline")
        lines = raw.splitlines()
        lines_by_split[split] = lines
        if len(lines) != EXPECTED[split]:
            errs.append(f"{rel}: {len(lines)} lines, expected {EXPECTED[split]}")
        for n, line in enumerate(lines, 1):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                errs.append(f"{rel}:{n}: bad JSON ({e})")
                continue
            errs.extend(validate_messages(obj, f"{rel}:{n}"))
            if "[INST]" in line or "[/INST]" in line:
                errs.append(f"{rel}:{n}: contains chat markup")
    if len(lines_by_split) == 3:
        sets = {k: set(v) for k, v in lines_by_split.items()}
        for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
            both = sets[a] & sets[b]
            if both:
                errs.append(f"{len(both)} conversations appear in both {a} and {b}")
        for k in ("validation", "test"):
            if len(sets[k]) != len(lines_by_split[k]):
                errs.append(f"{k}: contains exact duplicates")
        # Held-out splits must be new phrasings: no opening question shared with train.
        def openings(lines):
            return {norm(first_user(json.loads(l))) for l in lines}
        train_open = openings(lines_by_split["train"])
        for k in ("validation", "test"):
            shared = openings(lines_by_split[k]) & train_open
            if shared:
                errs.append(f"{k}: {len(shared)} opening questions also open a train conversation")
        stats_path = out / "make" / "data_stats.json"
        if stats_path.exists():
            stats = json.loads(stats_path.read_text(encoding="utf-8"))
            dup = len(lines_by_split["train"]) - len(sets["train"])
            if dup != stats["planted_duplicates"]["exact"]:
                errs.append(f"train has {dup} exact duplicates, stats says {stats['planted_duplicates']['exact']}")
            train = lines_by_split["train"]
            for e in stats["planted_duplicates"]["exact_lines"]:
                if train[e["line"] - 1] != train[e["duplicate_of_line"] - 1]:
                    errs.append(f"planted exact duplicate at line {e['line']} does not match")
            for e in stats["planted_duplicates"]["near_lines"]:
                if train[e["line"] - 1] == train[e["near_duplicate_of_line"] - 1]:
                    errs.append(f"planted near duplicate at line {e['line']} is identical")
        else:
            errs.append(f"missing {stats_path}")
    corpus = out / "corpus" / "company_docs.txt"
    if corpus.exists():
        text = corpus.read_text(encoding="utf-8")
        for bad in ("[INST]", "[/INST]", "<<SYS>>"):
            if bad in text:
                errs.append(f"corpus contains {bad}")
        if "\n\n\n" in text:
            errs.append("corpus has an empty document")
    else:
        errs.append(f"missing {corpus}")
    for e in errs[:50]:
        print("ERROR:", e, file=sys.stderr)
    if errs:
        print(f"check failed: {len(errs)} problem(s)", file=sys.stderr)
        return 1
    print("check ok")
    return 0


def generate(seed: int, out: Path) -> dict:
    rng_chat = random.Random(seed)
    rng_corpus = random.Random(seed + 1)  # independent stream: corpus changes don't reshuffle chats
    splits, planted, edit_kinds, _ = build_splits(rng_chat)
    files = {}
    for split, rel in SPLIT_FILES.items():
        text = "".join(dump_line(c) + "\n" for c in splits[split])
        write_text(out / rel, text)
        files[rel] = out / rel
    corpus_text, n_docs, per_type = build_corpus(rng_corpus)
    write_text(out / "corpus" / "company_docs.txt", corpus_text)
    files["corpus/company_docs.txt"] = out / "corpus" / "company_docs.txt"

    cats = {}
    for split in ("train", "validation", "test"):
        counts = {}
        for c in splits[split]:
            counts[c.get("_cat", "train_planted")] = counts.get(c.get("_cat", "train_planted"), 0) + 1
        cats[split] = dict(sorted(counts.items()))
    stats = {
        "generator": "sample_data/make/generate_data.py",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "splits": {k: split_stats(splits[k]) for k in ("train", "validation", "test")},
        "categories": cats,
        "intents": len(INTENTS),
        "planted_duplicates": {
            "exact": len(planted["exact"]),
            "near": len(planted["near"]),
            "near_edit_kinds": edit_kinds,
            "exact_lines": sorted(planted["exact"], key=lambda e: e["line"]),
            "near_lines": sorted(planted["near"], key=lambda e: e["line"]),
            "note": "line numbers are 1-based in data/train.jsonl; validation and test contain no duplicates",
        },
        "corpus": {
            "path": "corpus/company_docs.txt",
            "bytes": len(corpus_text.encode("utf-8")),
            "documents": n_docs,
            "documents_by_type": per_type,
            "separator": "blank line",
        },
        "facts": FACTS,
        "sha256": {rel: sha256(p) for rel, p in sorted(files.items())},
    }
    write_text(out / "make" / "data_stats.json", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    return stats


def main(argv=None) -> int:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--out", type=Path, default=here, help="output root (default: the sample_data folder)")
    ap.add_argument("--check", action="store_true", help="only validate existing outputs")
    args = ap.parse_args(argv)
    if args.check:
        return check(args.out)
    stats = generate(args.seed, args.out)
    s = stats["splits"]
    print(f"wrote train={s['train']['conversations']} validation={s['validation']['conversations']} "
          f"test={s['test']['conversations']} corpus={stats['corpus']['bytes']} bytes "
          f"/ {stats['corpus']['documents']} docs to {args.out}")
    return check(args.out)


if __name__ == "__main__":
    sys.exit(main())
