"""An SSH target's registration never fails the request: no ``user`` (this machine's login name, recorded), a
port nobody listens on, and a doctor that raises; each is a 201 with the target offline and why, or online."""

from __future__ import annotations

import getpass

from orcha.doctor import doctor_by_kind
from orcha.model import TargetKind
from tests.actors.harness import passing_doctor
from tests.ssh.conftest import Sshd, ssh_served, target_body
from tests.web.harness import served


async def test_without_user_it_logs_in_as_the_local_login_name_and_records_it(aio_loop, sshd: Sshd, tmp_path):
    assert getpass.getuser() == sshd.user  # the test sshd lets root in; the tests run as root
    body = target_body(sshd)
    del body["user"]
    async with ssh_served(tmp_path) as web:
        reply = await web.client.post("/api/targets", json=body)
        assert reply.status_code == 201, reply.text
        data = reply.json()
        assert data["doctor"]["ok"] is True, data["doctor"]
        assert data["target"]["user"] == getpass.getuser() and data["target"]["status"] == "online"


async def test_an_unreachable_port_without_user_is_offline_with_a_reason_and_can_be_doctored(aio_loop, tmp_path):
    body = {"kind": "ssh", "name": "nobody", "host": "127.0.0.1", "port": 1, "work_root": str(tmp_path / "x")}
    async with ssh_served(tmp_path) as web:
        reply = await web.client.post("/api/targets", json=body)
        assert reply.status_code == 201, reply.text
        target = reply.json()["target"]
        assert target["status"] == "offline" and target["user"] == getpass.getuser()
        assert target["status_reason"].startswith("doctor failed: connection: "), target["status_reason"]
        again = await web.client.post(f"/api/targets/{target['id']}/doctor")
        assert again.status_code == 200, again.text
        assert again.json()["doctor"]["ok"] is False and again.json()["target"]["status"] == "offline"
        twice = await web.client.post("/api/targets", json=body)
        assert twice.status_code == 409 and twice.json()["error"]  # the name is taken by the offline target


async def test_a_doctor_that_raises_is_a_failed_check_not_a_500(aio_loop, tmp_path):
    calls = []

    async def broken(target, /, *, on_check):
        calls.append(target.name)
        await on_check(passing_check := (await passing_doctor(target)).checks[0])
        assert passing_check.ok
        raise TypeError("'NoneType' object is not iterable")

    doctor = doctor_by_kind({TargetKind.LOCAL: passing_doctor, TargetKind.SSH: broken})
    async with served(tmp_path, doctor=doctor) as web:
        body = {"kind": "ssh", "name": "broken", "host": "127.0.0.1", "work_root": str(tmp_path / "x")}
        reply = await web.client.post("/api/targets", json=body)
        assert reply.status_code == 201, reply.text
        data = reply.json()
        assert [c["name"] for c in data["doctor"]["checks"]] == ["work_root", "doctor"]
        assert data["doctor"]["missing"] == ["doctor: unexpected error: TypeError: 'NoneType' object is not iterable"]
        assert data["target"]["status"] == "offline"
        assert "unexpected error: TypeError" in data["target"]["status_reason"]
        again = await web.client.post(f"/api/targets/{data['target']['id']}/doctor")
        assert again.status_code == 200 and again.json()["doctor"]["ok"] is False
        assert calls == ["broken", "broken"]
