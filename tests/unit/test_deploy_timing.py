"""The modelled failed-deploy timing (scripts/deploy_timing.py) and docs/aws-deploy-timing.md: the document's
table is recomputed from the inventories here, so it cannot drift from the settings."""
import shutil
import subprocess
import sys
from pathlib import Path

import deploy_timing as dt
import pytest
import yaml

from support import role_dir

ROOT = Path(__file__).resolve().parents[2]


SETTINGS = {"health_check_interval": 10, "healthy_threshold": 2, "unhealthy_threshold": 3, "deregistration_delay": 30,
            "grace_period": 60, "min_tasks": 1, "desired_count": 1, "minimum_healthy_percent": 100,
            "maximum_percent": 200, "circuit_breaker": True, "poll_interval": 10, "wait_timeout": 900,
            "smoke_retries": 10, "smoke_delay": 3}


@pytest.fixture
def tree(tmp_path):
    """A copy of the role defaults and inventories the model reads."""
    for role in ("alb", "app", "ecs_service", "ecs_release"):
        defaults = role_dir(role).relative_to(ROOT) / "defaults"
        (tmp_path / defaults).mkdir(parents=True)
        shutil.copy(ROOT / defaults / "main.yml", tmp_path / defaults)
    shutil.copytree(ROOT / "inventories", tmp_path / "inventories")
    return tmp_path


class TestAppDeployTiming:
    """(Named for the app: `pytest tests/unit -k app` selects these with the application's tests.)"""

    def test_document_table_matches_the_inventories(self):
        assert dt.doc_table() == dt.markdown(), (
            "docs/aws-deploy-timing.md is stale: paste the output of `scripts/deploy_timing.py --markdown` over its table")

    def test_readme_links_the_document_and_its_summary_matches_the_inventories(self):
        assert "docs/aws-deploy-timing.md" in (ROOT / "README.md").read_text()
        assert dt.readme_summary() == dt.summary(), (
            "README.md's failed-deploy summary is stale: paste the output of `scripts/deploy_timing.py --summary`")

    def test_check_doc_command_passes_on_the_repository(self):
        res = subprocess.run([sys.executable, str(ROOT / "scripts" / "deploy_timing.py"), "--check-doc"],
                             capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0, res.stderr

    @pytest.mark.parametrize("desired, threshold", [(1, 3), (2, 3), (6, 3), (7, 4), (10, 5), (399, 200), (1000, 200)])
    def test_circuit_breaker_threshold_is_half_the_desired_count_within_3_and_200(self, desired, threshold):
        assert dt.circuit_breaker_threshold(desired) == threshold

    @pytest.mark.parametrize("desired, low, high, batch", [(1, 100, 200, 1), (2, 100, 200, 2), (4, 50, 200, 4),
                                                           (4, 100, 150, 2), (3, 100, 100, 1), (10, 50, 100, 5)])
    def test_launch_batch(self, desired, low, high, batch):
        assert dt.launch_batch(desired, low, high) == batch

    def test_model_by_hand(self):
        m = dt.model(SETTINGS, task_start_s=45, task_stop_s=5)
        # never healthy: 3 failed tasks one after the other, each 45 s start + 60 s grace (> 3 x 10 s) + 5 s stop
        assert (m["threshold"], m["batch"], m["cycles"], m["cycle"], m["trip"]) == (3, 1, 3, 110, 330)
        assert (m["detect_cb"], m["back_cb"], m["done_cb"]) == (340, 405, 445)
        # smoke test fails: 45 + 2 x 10 healthy, + 30 drain = COMPLETED, + 10 poll, + 10 x 3 smoke
        assert (m["switched"], m["completed"], m["detect_smoke"], m["back_smoke"], m["done_smoke"]) == (65, 95, 135, 200, 240)
        assert m["exposure_smoke"] == 135 and not m["timed_out"] and m["rollback_within_wait"]

    def test_model_unhealthy_threshold_beyond_grace_and_wait_timeout_cap(self):
        slow = dict(SETTINGS, unhealthy_threshold=10, health_check_interval=30)  # 300 s to turn unhealthy > 60 s grace
        m = dt.model(slow, task_start_s=45, task_stop_s=5)
        assert m["cycle"] == 45 + 300 + 5
        capped = dict(SETTINGS, wait_timeout=120)
        m = dt.model(capped, task_start_s=45, task_stop_s=5)
        assert m["detect_cb"] == 120 and m["timed_out"]  # webstack gives up (TIMEOUT) before the breaker trips

    def test_bigger_services_trip_sooner_per_task(self):
        m = dt.model(dict(SETTINGS, desired_count=10), task_start_s=45, task_stop_s=5)
        assert (m["threshold"], m["batch"], m["cycles"]) == (5, 10, 1)

    def test_settings_come_from_the_inventory_over_the_role_defaults(self, tree):
        base = dt.load_settings("prod", tree)
        alb = tree / "inventories" / "prod" / "group_vars" / "all" / "alb.yml"
        data = yaml.safe_load(alb.read_text())
        data.update(alb_health_check_interval=30, alb_unhealthy_threshold=5)
        alb.write_text(yaml.safe_dump(data))
        changed = dt.load_settings("prod", tree)
        assert (changed["health_check_interval"], changed["unhealthy_threshold"]) == (30, 5)
        assert dt.model(changed)["cycle"] == dt.TASK_START_S + 150 + dt.TASK_STOP_S != dt.model(base)["cycle"]
        assert dt.markdown(("prod",), tree) != dt.markdown(("prod",))

    def test_the_largest_count_and_grace_of_the_routed_processes_are_used(self, tree):
        app = tree / "inventories" / "dev" / "group_vars" / "all" / "app.yml"
        data = yaml.safe_load(app.read_text())
        data["app_processes"][1]["count"] = 8
        data["app_processes"][1]["health"]["grace"] = 90
        data["app_processes"][2]["count"] = 20  # a worker (no route): not behind the load balancer
        app.write_text(yaml.safe_dump(data))
        settings = dt.load_settings("dev", tree)
        assert (settings["desired_count"], settings["grace_period"]) == (8, 90)
        assert settings["web_facing_services"] == ["web", "api"]

    def test_a_templated_value_is_refused_naming_the_variable(self, tree):
        app = tree / "inventories" / "dev" / "group_vars" / "all" / "app.yml"
        data = yaml.safe_load(app.read_text())
        data["app_processes"][0]["health"]["grace"] = "{{ some_var }}"
        app.write_text(yaml.safe_dump(data))
        with pytest.raises(ValueError, match=r"app_processes\[web\].health.grace"):
            dt.load_settings("dev", tree)
        ecs = tree / "inventories" / "dev" / "group_vars" / "all" / "ecs_release.yml"
        ecs.write_text(ecs.read_text() + 'ecs_release_poll_interval: "{{ some_var }}"\n')
        with pytest.raises(ValueError, match="ecs_release_poll_interval"):
            dt.load_settings("dev", tree)
