"""The double's pfctl parses a pf.conf subset like sbin/pfctl/parse.y; kldload; argv faults.

Expected texts come from reference/outputs.md §3 (real pastes) or from the FreeBSD source
named in the double's comments (parse.y, pfctl.c, pfctl_parser.c, pfctl_table.c,
kldload.c).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.double.install import DOUBLE, Run, read_calls, runner, seed_state

ORDER = "Rules must be in order: options, ethernet, normalization, queueing, translation, filtering"

# The operator's pf.conf with warden's include (setup/pfconf.py places it between the
# translation and the filtering rules).
PF_CONF = """\
# the operator's own rules
ext_if = "vtnet0"
set skip on lo0
set block-policy return
scrub in on $ext_if all fragment reassemble
nat on $ext_if inet from 192.168.50.0/24 to any -> ($ext_if:0)
# BEGIN warden: NAT and filtering for the agents on warden0 (managed block)
include "/etc/pf.warden.conf"
# END warden
block in all
pass out quick keep state
pass in on $ext_if inet proto tcp from any to ($ext_if) port ssh keep state
"""

WARDEN_CONF = """\
# /etc/pf.warden.conf: managed by warden.
warden_if = "warden0"
warden_ext_if = "vtnet0"
table <warden_agents> const { 10.77.1.0/24, 10.77.2.0/24 }

nat on $warden_ext_if inet from <warden_agents> to any -> ($warden_ext_if:0)

block in quick on $warden_if inet from 10.77.1.0/24 to { 10.77.2.0/24 }
block in quick on $warden_if inet from 10.77.2.0/24 to { 10.77.1.0/24 }

pass in quick on $warden_if inet from <warden_agents> to any keep state
pass out quick on $warden_if inet from any to <warden_agents> keep state
"""

PF_KLD = {
    "id": 2,
    "name": "pf.ko",
    "refs": 1,
    "address": "0xffffffff82000000",
    "size": 0x9C38,
    "modules": ["pf"],
}
KERNEL_KLD = {
    "id": 1,
    "name": "kernel",
    "refs": 14,
    "address": "0xffffffff80200000",
    "size": 0x1F3E2D0,
    "modules": ["kernel"],
}


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Path]:
    state, root = tmp_path / "state", tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "pf.conf").write_text(PF_CONF)
    (root / "etc" / "pf.warden.conf").write_text(WARDEN_CONF)
    seed_state(state)
    return {"state": state, "root": root}


@pytest.fixture
def run(host: dict[str, Path]) -> Run:
    return runner(host["state"], host["root"])


def with_pf_loaded(host: dict[str, Path], **overrides: Any) -> None:
    seed_state(host["state"], {"kld": [KERNEL_KLD, PF_KLD], **overrides})


def write(host: dict[str, Path], path: str, text: str) -> None:
    target = host["root"] / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def pfctl_stdin(host: dict[str, Path], text: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`pfctl ARGS -` with TEXT on stdin (pushfile(): "-" is stdin, named "stdin")."""
    env = {
        **os.environ,
        "FREEBSD_DOUBLE_STATE": str(host["state"]),
        "FREEBSD_DOUBLE_ROOT": str(host["root"]),
    }
    return subprocess.run(
        [sys.executable, str(DOUBLE), "pfctl", *args, "-"],
        env=env,
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )


def state_of(host: dict[str, Path]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((host["state"] / "state.json").read_text())
    return data


# ---------------------------------------------------------------- a realistic pf.conf


def test_the_operators_pf_conf_with_the_warden_include_passes_the_parse_check(
    run: Run,
) -> None:
    result = run("pfctl", "-nf", "/etc/pf.conf")
    assert (result.stdout, result.stderr, result.returncode) == ("", "", 0)


def test_loading_it_shows_the_expanded_translation_rules_and_the_table(
    run: Run, host: dict[str, Path]
) -> None:
    with_pf_loaded(host)
    load = run("pfctl", "-f", "/etc/pf.conf")
    assert (load.stdout, load.stderr, load.returncode) == ("", "", 0)
    # reference/outputs.md §3.2: macros expanded; (IF:0) is not DYNIF_MULTIADDR, so no round-robin.
    assert run("pfctl", "-s", "nat").stdout.splitlines() == [
        "nat on vtnet0 inet from 192.168.50.0/24 to any -> (vtnet0:0)",
        "nat on vtnet0 inet from <warden_agents> to any -> (vtnet0:0)",
    ]
    table = run("pfctl", "-t", "warden_agents", "-T", "show")
    assert (table.stdout, table.returncode) == ("   10.77.1.0/24\n   10.77.2.0/24\n", 0)


def test_filter_rules_are_listed_one_per_line_in_pfctls_normal_form(
    run: Run, host: dict[str, Path]
) -> None:
    with_pf_loaded(host)
    assert run("pfctl", "-f", "/etc/pf.conf").returncode == 0
    assert run("pfctl", "-s", "rules").stdout.splitlines() == [
        "scrub in on vtnet0 all fragment reassemble",
        # "set block-policy return" came before the include (print_rule: " return").
        "block return in quick on warden0 inet from 10.77.1.0/24 to 10.77.2.0/24",
        "block return in quick on warden0 inet from 10.77.2.0/24 to 10.77.1.0/24",
        "pass in quick on warden0 inet from <warden_agents> to any flags S/SA keep state",
        "pass out quick on warden0 inet from any to <warden_agents> flags S/SA keep state",
        "block return in all",
        "pass out quick all flags S/SA keep state",
        "pass in on vtnet0 inet proto tcp from any to (vtnet0) port = ssh flags S/SA keep state",
    ]
    numeric = run("pfctl", "-s", "rules", "-P").stdout.splitlines()
    assert numeric[-1].endswith("to (vtnet0) port = 22 flags S/SA keep state")


def test_a_brace_list_expands_into_one_rule_per_member(run: Run, host: dict[str, Path]) -> None:
    with_pf_loaded(host)
    write(
        host,
        "/etc/lists.conf",
        'ports = "{ 22, 2222 }"\n'
        "block in quick on { warden0 vtnet0 } from 10.77.1.0/24 to { 10.77.2.0/24, 10.77.3.0/24 }\n"
        "pass in proto tcp to port $ports\n",
    )
    assert run("pfctl", "-f", "/etc/lists.conf").returncode == 0
    assert run("pfctl", "-sr").stdout.splitlines() == [
        "block drop in quick on warden0 inet from 10.77.1.0/24 to 10.77.2.0/24",
        "block drop in quick on warden0 inet from 10.77.1.0/24 to 10.77.3.0/24",
        "block drop in quick on vtnet0 inet from 10.77.1.0/24 to 10.77.2.0/24",
        "block drop in quick on vtnet0 inet from 10.77.1.0/24 to 10.77.3.0/24",
        "pass in proto tcp from any to any port = ssh flags S/SA keep state",
        "pass in proto tcp from any to any port = 2222 flags S/SA keep state",
    ]


def test_block_rules_show_the_block_policy_in_force_when_they_were_read(
    run: Run, host: dict[str, Path]
) -> None:
    with_pf_loaded(host)
    write(host, "/etc/p.conf", "block in all\nset block-policy return\nblock out all\n")
    # set block-policy after a filter rule is itself out of order (check_rulestate).
    result = run("pfctl", "-f", "/etc/p.conf")
    assert result.stderr.splitlines() == [
        f"/etc/p.conf:2: {ORDER}",
        "pfctl: Syntax error in config file: pf rules not loaded",
    ]
    write(host, "/etc/p.conf", "set block-policy return\nblock in all\nblock drop out all\n")
    assert run("pfctl", "-f", "/etc/p.conf").returncode == 0
    assert run("pfctl", "-sr").stdout == "block return in all\nblock drop out all\n"


# ---------------------------------------------------------------- statement order


def test_a_translation_rule_after_a_filter_rule_is_refused_with_its_line(
    run: Run, host: dict[str, Path]
) -> None:
    write(
        host,
        "/etc/late.conf",
        'ext_if = "vtnet0"\npass out all\n\nnat on $ext_if from 10.0.0.0/8 to any -> ($ext_if)\n',
    )
    result = run("pfctl", "-nf", "/etc/late.conf")
    assert (result.stdout, result.stderr, result.returncode) == (
        "",
        f"/etc/late.conf:4: {ORDER}\n",
        1,
    )


def test_set_require_order_no_lets_a_late_translation_rule_through(
    run: Run, host: dict[str, Path]
) -> None:
    write(
        host,
        "/etc/late.conf",
        "set require-order no\npass out all\nnat on vtnet0 from 10.0.0.0/8 to any -> (vtnet0)\n",
    )
    assert run("pfctl", "-nf", "/etc/late.conf").returncode == 0


def test_the_order_carries_across_an_include_and_errors_name_the_included_file(
    run: Run, host: dict[str, Path]
) -> None:
    write(host, "/etc/a.conf", 'pass all\ninclude "/etc/b.conf"\n')
    write(
        host, "/etc/b.conf", "# translation, too late\nnat on vtnet0 from any to any -> (vtnet0)\n"
    )
    result = run("pfctl", "-nf", "/etc/a.conf")
    # parse.y: FreeBSD's pushfile() starts an included file at line 1 and the include
    # rule then reads the pushed-back newline, so b.conf's line 2 is reported as 3.
    assert (result.stderr, result.returncode) == (f"/etc/b.conf:3: {ORDER}\n", 1)


def test_a_missing_include_is_reported_by_pushfile_then_by_the_include_rule(
    run: Run, host: dict[str, Path]
) -> None:
    write(host, "/etc/a.conf", 'set skip on lo0\ninclude "/etc/nope.conf"\n')
    result = run("pfctl", "-nf", "/etc/a.conf")
    assert (result.stderr, result.returncode) == (
        "pfctl: /etc/nope.conf: No such file or directory\n"
        "/etc/a.conf:2: failed to include file /etc/nope.conf\n",
        1,
    )


# ------------------------------------------------------- errors (reference/outputs.md §3.3)


def test_an_undefined_macro_is_reported_then_the_line_is_a_syntax_error(
    host: dict[str, Path],
) -> None:
    with_pf_loaded(host)
    rules = "table <jails> persist\nrdr pass inet proto tcp to port 8080 -> 10.0.0.1\n"
    rules += "rdr pass on $ext_if inet proto tcp to port 8080 -> 10.0.0.1 port 80\n"
    result = pfctl_stdin(host, rules, "-f")
    # The bastille #673 paste, word for word.
    assert (result.stderr, result.returncode) == (
        "stdin:3: macro 'ext_if' not defined\n"
        "stdin:3: syntax error\n"
        "pfctl: Syntax error in config file: pf rules not loaded\n",
        1,
    )


def test_a_bad_address_could_not_parse_host_specification(run: Run, host: dict[str, Path]) -> None:
    write(host, "/etc/bad.conf", "set skip on lo0\n\npass in from 10.0.1.300/24 to any\n")
    result = run("pfctl", "-nf", "/etc/bad.conf")
    # host(): stderr "no IP address found for %s"; parse.y host: yyerror.
    assert (result.stderr, result.returncode) == (
        "no IP address found for 10.0.1.300/24\n"
        "/etc/bad.conf:3: could not parse host specification\n",
        1,
    )
    write(host, "/etc/bad.conf", "pass in from 10.0.1.0/129 to any\n")
    assert run("pfctl", "-nf", "/etc/bad.conf").stderr == (
        "invalid netmask '/129'\n/etc/bad.conf:1: could not parse host specification\n"
    )


def test_a_plain_syntax_error_names_file_and_line_without_the_load_message_under_n(
    run: Run, host: dict[str, Path]
) -> None:
    write(host, "/etc/bad.conf", "pass all\npass in frm any\n")
    parse_only = run("pfctl", "-nf", "/etc/bad.conf")
    assert (parse_only.stderr, parse_only.returncode) == ("/etc/bad.conf:2: syntax error\n", 1)


def test_pf_syntax_the_subset_does_not_model_exits_64(run: Run, host: dict[str, Path]) -> None:
    for line in (
        'pass in label "ssh" all',
        "pass out route-to (vtnet0 192.0.2.1) all",
        "binat on vtnet0 from 10.0.0.1 to any -> 192.0.2.5",
    ):
        write(host, "/etc/x.conf", line + "\n")
        result = run("pfctl", "-nf", "/etc/x.conf")
        assert result.returncode == 64, line
        assert "freebsd-double: not modelled" in result.stderr


# ---------------------------------------------------------------- loading


def test_parse_only_works_without_the_pf_module_but_loading_needs_it(
    run: Run, host: dict[str, Path]
) -> None:
    assert run("pfctl", "-nf", "/etc/pf.conf").returncode == 0
    load = run("pfctl", "-f", "/etc/pf.conf")
    assert (load.stderr, load.returncode) == ("pfctl: /dev/pf: No such file or directory\n", 1)
    assert "ruleset" not in state_of(host)["pf"]
    assert run("kldload", "pf").returncode == 0
    assert run("pfctl", "-f", "/etc/pf.conf").returncode == 0
    # Loading a ruleset does not enable pf.
    assert run("pfctl", "-s", "Running").stdout == "Disabled\n"


def test_a_failed_load_leaves_the_previous_ruleset_in_place(
    run: Run, host: dict[str, Path]
) -> None:
    with_pf_loaded(host)
    assert run("pfctl", "-f", "/etc/pf.conf").returncode == 0
    before = state_of(host)["pf"]["ruleset"]
    assert before["source"] == "/etc/pf.conf"
    write(host, "/etc/pf.warden.conf", WARDEN_CONF + "pass in from 10.77.1.256 to any\n")
    result = run("pfctl", "-f", "/etc/pf.conf")
    assert result.returncode == 1
    assert result.stderr.endswith("pfctl: Syntax error in config file: pf rules not loaded\n")
    assert state_of(host)["pf"]["ruleset"] == before
    assert run("pfctl", "-t", "warden_agents", "-T", "show").stdout.count("\n") == 2


def test_a_missing_main_file_cannot_be_opened(run: Run, host: dict[str, Path]) -> None:
    with_pf_loaded(host)
    result = run("pfctl", "-f", "/etc/none.conf")
    assert (result.stderr, result.returncode) == (
        "pfctl: /etc/none.conf: No such file or directory\n"
        "pfctl: cannot open the main config file!: No such file or directory\n"
        "pfctl: Syntax error in config file: pf rules not loaded\n",
        1,
    )


def test_nothing_is_listed_before_a_ruleset_is_loaded(run: Run, host: dict[str, Path]) -> None:
    with_pf_loaded(host)
    for show in ("nat", "rules"):
        result = run("pfctl", "-s", show)
        assert (result.stdout, result.stderr, result.returncode) == ("", "", 0)


def test_an_unknown_or_unreferenced_table_does_not_exist(run: Run, host: dict[str, Path]) -> None:
    with_pf_loaded(host)
    write(host, "/etc/t.conf", "table <spare> { 192.0.2.99 }\ntable <kept> persist\npass all\n")
    assert run("pfctl", "-f", "/etc/t.conf").returncode == 0
    # radix_perror() with ESRCH; pfctl_table() returns -1, so pfctl exits 255.
    for name in ("nosuch", "spare"):
        result = run("pfctl", "-t", name, "-T", "show")
        assert (result.stdout, result.stderr, result.returncode) == (
            "",
            "pfctl: Table does not exist.\n",
            255,
        )
    assert run("pfctl", "-t", "kept", "-T", "show").returncode == 0
    assert run("pfctl", "-s", "Tables").stdout == "kept\n"


def test_a_table_declared_without_a_list_keeps_its_entries_across_a_reload(
    run: Run, host: dict[str, Path]
) -> None:
    with_pf_loaded(host)
    write(host, "/etc/nets", "# one per line\n10.77.1.0/24\n10.77.9.9\n")
    write(host, "/etc/t.conf", 'table <nets> persist file "/etc/nets"\npass all\n')
    assert run("pfctl", "-f", "/etc/t.conf").returncode == 0
    assert run("pfctl", "-t", "nets", "-T", "show").stdout == "   10.77.1.0/24\n   10.77.9.9\n"
    write(host, "/etc/t.conf", "table <nets> persist\npass all\n")
    assert run("pfctl", "-f", "/etc/t.conf").returncode == 0
    assert run("pfctl", "-t", "nets", "-T", "show").stdout == "   10.77.1.0/24\n   10.77.9.9\n"
    write(host, "/etc/t.conf", "table <nets> persist { }\npass all\n")
    assert run("pfctl", "-f", "/etc/t.conf").returncode == 0
    assert run("pfctl", "-t", "nets", "-T", "show").stdout == ""


def test_f_with_e_loads_then_enables(run: Run, host: dict[str, Path]) -> None:
    with_pf_loaded(host)
    result = run("pfctl", "-e", "-f", "/etc/pf.conf")
    assert (result.stderr, result.returncode) == ("pf enabled\n", 0)
    assert run("pfctl", "-s", "Running").stdout == "Enabled\n"


# ---------------------------------------------------------------- kldload


def test_kldload_loads_a_known_module_and_v_names_its_file_id(
    run: Run, host: dict[str, Path]
) -> None:
    result = run("kldload", "-v", "pf")
    assert (result.stdout, result.stderr, result.returncode) == ("Loaded pf, id=2\n", "", 0)
    assert run("kldstat", "-q", "-m", "pf").returncode == 0
    assert run("kldstat").stdout.splitlines()[-1].endswith(" pf.ko")


def test_kldload_of_a_loaded_module_fails_unless_n(run: Run, host: dict[str, Path]) -> None:
    with_pf_loaded(host)
    again = run("kldload", "pf")
    assert (again.stderr, again.returncode) == (
        "kldload: can't load pf: module already loaded or in kernel\n",
        1,
    )
    assert run("kldload", "-n", "pf.ko").returncode == 0
    verbose = run("kldload", "-nv", "pf")
    assert (verbose.stdout, verbose.returncode) == ("pf is already loaded\n", 0)
    assert run("kldload", "-q", "pf").stderr == ""
    assert len(state_of(host)["kld"]) == 2


def test_kldload_of_an_unknown_module_finds_no_such_file(run: Run) -> None:
    result = run("kldload", "-n", "nosuch")
    assert (result.stderr, result.returncode) == (
        "kldload: can't load nosuch: No such file or directory\n",
        1,
    )


# ---------------------------------------------------------------- argv faults


def test_an_argv_fault_fails_matching_calls_before_they_act_and_counts_down(
    run: Run, host: dict[str, Path]
) -> None:
    with_pf_loaded(
        host,
        fault=[
            {
                "argv": ["pfctl", "-f"],
                "action": "exit",
                "rc": 1,
                "stderr": "/etc/pf.conf:3: syntax error",
                "times": 1,
            }
        ],
    )
    assert run("pfctl", "-nf", "/etc/pf.conf").returncode == 0  # not the prefix
    faulted = run("pfctl", "-f", "/etc/pf.conf")
    assert (faulted.stderr, faulted.returncode) == ("/etc/pf.conf:3: syntax error\n", 1)
    assert "ruleset" not in state_of(host)["pf"]
    assert state_of(host)["fault"][0]["times"] == 0
    assert run("pfctl", "-f", "/etc/pf.conf").returncode == 0
    assert [c["rc"] for c in read_calls(host["state"])] == [0, 1, 0]


def test_a_fault_list_can_mix_call_index_and_argv_faults(run: Run, host: dict[str, Path]) -> None:
    seed_state(
        host["state"],
        {"fault": [{"at": 3, "action": "exit"}, {"argv": ["kldload"], "action": "exit", "rc": 2}]},
    )
    assert run("kldload", "pf").returncode == 2  # no "times": every time
    assert run("uname").returncode == 0
    assert run("uname").returncode == 70
    assert run("kldload", "pf").returncode == 2
    assert "pf" not in json.dumps(state_of(host)["kld"])


def test_an_unknown_fault_action_exits_64(run: Run, host: dict[str, Path]) -> None:
    seed_state(host["state"], {"fault": {"argv": ["uname"], "action": "hang"}})
    result = run("uname")
    assert result.returncode == 64
    assert "freebsd-double: not modelled" in result.stderr
