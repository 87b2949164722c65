"""One router per resource: score, jobs, rubrics, health, metrics."""
