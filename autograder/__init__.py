"""nbgrader configuration and the `course` command line."""
