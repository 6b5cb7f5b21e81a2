"""The scheduler process (``flask scheduler run``): schedules of live rulesets and daily duties.

One process, never a web worker. APScheduler only wakes it up; which slots are due, and whether a
slot already ran, is decided by the database (``scheduler_runs``), so a restart, a late wake-up or
two schedulers at once run each slot of each job exactly once.
"""
