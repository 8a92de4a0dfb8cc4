"""The course's answers: the reference implementation of every graded exercise, one module per topic.

Nothing outside this package imports it at module level: the tools notebooks use (data, training
loop, models, widgets, check harness) work without it, so the grader's judge process can leave the
whole package out (``DEFAULT_FORBIDDEN``) and give back to an exercise only what it declares it may
use (``Exercise.allow``). A later chapter that uses an earlier chapter's answer as a tool imports it
from here explicitly, e.g. ``from course_lib.reference.conv import conv2d``.
"""
