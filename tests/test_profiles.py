"""Weight profiles: validation messages, the TOML form, versions in the state store, the CLI.

Every profile here is built in code and every store lives under ``tmp_path``.
"""
from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, cli
from scoring.demo_usage import CATALOGUE as DEMO_CATALOGUE
from scoring.profile import (COMPONENTS, DIRECTIONS, KINDS, METHODS, PEERS, PER,
                             RESERVED_SIGNAL_NAMES, Bands, Expansion, NewRule, Normalisation,
                             Profile, ProfileError, SignalDef, default_profile, demo_profile)
from scoring.profiles import (check_known_events, ensure_demo_profile, from_toml, list_profiles, load, parse_ref,
                              publish, published, resolve, save, to_toml, validate, versions)
from scoring.schema import DIMENSIONS
from scoring.state import StateStore
from scoring.store import DataError

CATALOGUE = pd.DataFrame({
    "event_type": ["login", "report_generated", "api_call", "webhook_delivered", "legacy_sync"],
    "feature": ["Sign-in", "Reports", "API", "Webhooks", None],
    "dimension": ["frequency", "breadth", "integration", "integration", None],
    "value_action": [False, True, True, False, None],
})


@pytest.fixture
def state(tmp_path) -> StateStore:
    return StateStore(tmp_path / "cs.state.sqlite")


def with_signal(profile: Profile, index: int = 1, **changes) -> Profile:
    signals = list(profile.signals)
    signals[index] = dataclasses.replace(signals[index], **changes)
    return dataclasses.replace(profile, signals=tuple(signals))


def problem(profile: Profile) -> str:
    with pytest.raises(ProfileError) as info:
        validate(profile)
    return str(info.value)


# ---------------------------------------------------------------- validation

CLASSIC = demo_profile()
GRID = Normalisation("grid", "book", ((5.0, 0.0), (20.0, 50.0), (100.0, 100.0)))

CASES = [
    (with_signal(CLASSIC, weight=-1.0), ["signal reports_generated: weight is -1.0", ">= 0"]),
    (with_signal(CLASSIC, weight=math.nan), ["signal reports_generated: weight is nan", "finite"]),
    (with_signal(CLASSIC, weight=math.inf), ["weight is inf"]),
    (dataclasses.replace(CLASSIC, health_weights={**CLASSIC.health_weights, "nps": -2.0}),
     ["health_weights.nps is -2.0"]),
    (dataclasses.replace(CLASSIC, health_weights={**CLASSIC.health_weights, "support": math.inf}),
     ["health_weights.support is inf"]),
    (dataclasses.replace(CLASSIC, signals=tuple(dataclasses.replace(s, weight=0.0)
                                                for s in CLASSIC.signals)),
     ["all signal weights are zero"]),
    (dataclasses.replace(CLASSIC, health_weights={c: 0.0 for c in COMPONENTS}),
     ["all health weights are zero", "engagement"]),
    (with_signal(CLASSIC, kind="distinct_user"),
     ['unknown kind "distinct_user" in signal reports_generated — did you mean "distinct_users"? '
      "expected one of count, sum, distinct_users, distinct_features, active_days"]),
    (with_signal(CLASSIC, dimension="colaboration"),
     ['unknown dimension "colaboration" in signal reports_generated', 'did you mean "collaboration"?']),
    (with_signal(CLASSIC, direction="hgher"), ['unknown direction "hgher"', '"higher"?']),
    (with_signal(CLASSIC, per="seats"), ['unknown per "seats"', '"seat"?', "or leave it out"]),
    (with_signal(CLASSIC, normalisation=Normalisation("percentil")),
     ['unknown normalisation method "percentil"', '"percentile"?', "logz"]),
    (with_signal(CLASSIC, normalisation=Normalisation(peer="segments")),
     ['unknown normalisation peer "segments"', '"segment"?']),
    (dataclasses.replace(CLASSIC, health_weights={**CLASSIC.health_weights, "nsp": 1.0}),
     ['unknown health component "nsp" in health_weights — did you mean "nps"?']),
    (with_signal(CLASSIC, kind="zzz"), ['unknown kind "zzz" in signal reports_generated — expected']),
    (with_signal(CLASSIC, name="logins"), ['the name "logins" is used by more than one signal']),
    (with_signal(CLASSIC, name="Reports"), ["name 'Reports'", "contrib_<name>"]),
    (with_signal(CLASSIC, name="2x"), ["name '2x'", "lower-case identifier"]),
    (with_signal(CLASSIC, name="a__b"), ["name 'a__b'", "double underscore"]),
    (with_signal(CLASSIC, name="arr"), ['name "arr" is a fixed column']),
    (with_signal(CLASSIC, label=" "), ["signal reports_generated: label"]),
    (with_signal(CLASSIC, normalisation=Normalisation("grid")), ['method "grid" needs a grid']),
    (with_signal(CLASSIC, normalisation=Normalisation("grid", grid=((5.0, 0.0), (5.0, 50.0)))),
     ["normalisation.grid step 2 up_to is 5, not above the step before (5)"]),
    (with_signal(CLASSIC, normalisation=Normalisation("grid", grid=((5.0, 0.0), (9.0, 150.0)))),
     ["normalisation.grid step 2 points is 150.0 — expected a finite number >= 0 and <= 100"]),
    (with_signal(CLASSIC, normalisation=Normalisation("minmax", grid=((5.0, 0.0),))),
     ['normalisation.grid is given but the method is "minmax"']),
    (dataclasses.replace(CLASSIC, bands=Bands(80.0, 70.0)),
     ["bands.at_risk_below (80) is above bands.healthy_from (70)"]),
    (dataclasses.replace(CLASSIC, bands=Bands(40.0, 120.0)), ["bands.healthy_from is 120.0"]),
    (dataclasses.replace(CLASSIC, bands=Bands(-1.0, 70.0)), ["bands.at_risk_below is -1.0"]),
    (dataclasses.replace(CLASSIC, window_days=0), ["window_days is 0 — expected a whole number >= 1"]),
    (dataclasses.replace(CLASSIC, window_days=30.5), ["window_days is 30.5 — expected a whole number"]),
    (dataclasses.replace(CLASSIC, passive_daily_cap=-1), ["passive_daily_cap is -1"]),
    (dataclasses.replace(CLASSIC, max_signal_share=0.0), ["max_signal_share is 0.0", "> 0 and <= 1"]),
    (dataclasses.replace(CLASSIC, max_signal_share=1.5), ["max_signal_share is 1.5"]),
    (dataclasses.replace(CLASSIC, new_rule=NewRule(-1, 3)), ["new_rule.min_age_days is -1"]),
    (dataclasses.replace(CLASSIC, expansion=Expansion(math.nan, 0.1)),
     ["expansion.min_seat_utilisation is nan"]),
    (with_signal(CLASSIC, features=("Reports",)), ["give event_types or features, not both"]),
    (dataclasses.replace(CLASSIC, signals=()), ["the profile has no signals"]),
    (dataclasses.replace(CLASSIC, name="team@2"), ["profile name 'team@2'"]),
]


@pytest.mark.parametrize("profile, expected", CASES)
def test_validation_names_the_field_and_suggests(profile, expected):
    message = problem(profile)
    for part in expected:
        assert part in message
    assert "\n" not in message


def test_a_profile_error_is_a_data_error_listing_every_problem():
    bad = dataclasses.replace(with_signal(CLASSIC, kind="summ", weight=-1.0), window_days=0)
    with pytest.raises(DataError) as info:
        validate(bad)
    assert isinstance(info.value, ProfileError)
    assert str(info.value).startswith('profile "classic": window_days is 0')
    assert str(info.value).endswith("(and 2 more problems)")
    assert len(info.value.problems) == 3


def test_reserved_signal_names_cover_the_inputs_frame():
    from scoring.signals import FIXED_COLUMNS

    assert set(FIXED_COLUMNS) <= RESERVED_SIGNAL_NAMES


def test_valid_profiles_pass():
    validate(CLASSIC)
    validate(with_signal(CLASSIC, normalisation=GRID, per="active_user", direction="lower", trend=True))
    validate(default_profile(CATALOGUE))


def test_check_known_events_suggests_the_closest_known_name():
    check_known_events(default_profile(CATALOGUE), CATALOGUE)
    typo = with_signal(CLASSIC, 0, event_types=("logn",))
    with pytest.raises(ProfileError) as info:
        check_known_events(typo, CATALOGUE)
    assert 'event type "logn" in signal logins is not in the event-type catalogue' in str(info.value)
    assert 'did you mean "login"?' in str(info.value)
    # an empty feature means the event type itself, as for unclassified types
    by_feature = with_signal(CLASSIC, 0, event_types=(), features=("Reports", "legacy_sync"))
    with pytest.raises(ProfileError) as info:
        check_known_events(by_feature, CATALOGUE)
    assert 'event type "integration_connected"' in str(info.value)
    assert 'feature "Reports"' not in str(info.value)
    assert "legacy_sync" not in str(info.value)
    with pytest.raises(ProfileError, match='feature "Raports".*did you mean "Reports"'):
        check_known_events(with_signal(CLASSIC, 0, event_types=(), features=("Raports",)), CATALOGUE)


# ---------------------------------------------------------------- TOML


@pytest.mark.parametrize("profile", [
    CLASSIC, default_profile(CATALOGUE), default_profile(None),
    with_signal(CLASSIC, normalisation=GRID, per="seat", direction="lower", trend=True,
                label='Quotes " and \\ and\nnewlines, ünïcödé, =1+1'),
    dataclasses.replace(CLASSIC, health_weights={"engagement": 1.0}, description="only engagement"),
])
def test_toml_round_trip(profile):
    text = to_toml(profile)
    assert from_toml(text) == profile
    assert to_toml(from_toml(text)) == text


def test_toml_layout_is_the_documented_one():
    text = to_toml(with_signal(CLASSIC, normalisation=GRID))
    for line in ['name = "classic"', "window_days = 30", "[health_weights]", "[bands]", "[new_rule]",
                 "[expansion]", "[[signals]]", "[signals.normalisation]",
                 "{ up_to = 5.0, points = 0.0 }"]:
        assert line in text
    assert "version" not in text and "per =" not in text and "features" not in text


def test_toml_missing_optional_keys_take_the_defaults():
    profile = from_toml(textwrap.dedent("""
        name = "tiny"
        [[signals]]
        name = "days"
        label = "Days"
        dimension = "frequency"
        kind = "active_days"
        weight = 1
        [health_weights]
        engagement = 2
    """))
    assert profile == Profile("tiny", (SignalDef("days", "Days", "frequency", "active_days", 1.0),),
                              health_weights={"engagement": 2.0})
    assert profile.health_weights == {"engagement": 2.0, "nps": 0.0, "support": 0.0,
                                      "financial": 0.0, "commercial": 0.0}
    assert isinstance(profile.signals[0].weight, float)
    assert profile.bands == Bands() and profile.window_days == 30


@pytest.mark.parametrize("edit, expected", [
    (("window_days = 30", "windows_days = 30"),
     'unknown key "windows_days" in the top-level table — did you mean "window_days"?'),
    (("weight = 30.0", "wieght = 30.0"),
     'unknown key "wieght" in signal reports_generated — did you mean "weight"?'),
    (('method = "percentile"', 'methd = "percentile"'),
     'unknown key "methd" in signal logins normalisation — did you mean "method"?'),
    (("healthy_from = 70.0", "healthy_form = 70.0"),
     'unknown key "healthy_form" in [bands] — did you mean "healthy_from"?'),
    (('name = "classic"', 'name = "classic"\nversion = 3'), 'key "version"'),
    (("window_days = 30", 'window_days = "30"'), 'window_days is "30" — expected a whole number'),
    (("window_days = 30", "window_days = 30.0"), "window_days is 30.0 — expected a whole number"),
    (("weight = 30.0", 'weight = "high"'),
     'signal reports_generated: weight is "high" — expected a number'),
    (("value_only = false", 'value_only = "no"'), 'value_only is "no" — expected true or false'),
    (('kind = "sum"', 'kind = "summ"'),
     'unknown kind "summ" in signal reports_generated — did you mean "sum"?'),
    (('label = "API calls"\n', ""), "signal api_calls: missing label"),
    (("[health_weights]", "[health_weights.nps]"), "health_weights.nps is {"),
    (("healthy_from = 70.0", "healthy_from = [70.0]"), "bands.healthy_from is [70.0] — expected a number"),
])
def test_toml_problems_name_the_key(edit, expected):
    text = to_toml(CLASSIC)
    assert edit[0] in text
    with pytest.raises(ProfileError) as info:
        from_toml(text.replace(edit[0], edit[1], 1), source="team.toml")
    assert str(info.value).startswith("team.toml: ")
    assert expected in str(info.value)


def test_the_documented_example_is_a_valid_profile():
    doc = (ROOT / "docs" / "SCORING.md").read_text(encoding="utf-8").split("## Profiles", 1)[1]
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    profile = from_toml(example, source="docs/SCORING.md")
    assert profile.signal("reports_generated").normalisation == Normalisation(
        "grid", "segment", ((5.0, 0.0), (20.0, 50.0), (100.0, 100.0)))
    assert profile.bands == Bands()  # the example shows the defaults; classic moves at_risk to 55
    assert dataclasses.replace(profile, signals=CLASSIC.signals, description=CLASSIC.description,
                               bands=CLASSIC.bands) == CLASSIC


def test_toml_signals_must_be_tables():
    with pytest.raises(ProfileError, match=r"signals — expected \[\[signals\]\] tables"):
        from_toml('name = "x"\nsignals = 3\n')
    with pytest.raises(ProfileError, match="the profile has no signals"):
        from_toml('name = "x"\n')


def test_toml_syntax_error_names_the_line():
    with pytest.raises(ProfileError, match=r"team.toml: not valid TOML: .*line 3"):
        from_toml('name = "x"\n\nwindow_days = = 3\n', source="team.toml")


identifier = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda n: "__" not in n and n not in RESERVED_SIGNAL_NAMES)
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
weight = st.floats(0, 1e6, allow_nan=False)


@st.composite
def normalisations(draw) -> Normalisation:
    method = draw(st.sampled_from(METHODS))
    grid: tuple = ()
    if method == "grid":
        bounds = sorted(draw(st.sets(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=4)))
        grid = tuple((b, draw(st.floats(0, 100))) for b in bounds)
    return Normalisation(method, draw(st.sampled_from(PEERS)), grid)


@st.composite
def signal_defs(draw, name: str) -> SignalDef:
    names = st.lists(text.filter(bool), max_size=3).map(tuple)
    by_features = draw(st.booleans())
    return SignalDef(
        name=name, label=draw(text.filter(str.strip)), dimension=draw(st.sampled_from(DIMENSIONS)),
        kind=draw(st.sampled_from(tuple(KINDS))), weight=draw(weight),
        event_types=() if by_features else draw(names), features=draw(names) if by_features else (),
        value_only=draw(st.booleans()), per=draw(st.sampled_from(PER)),
        direction=draw(st.sampled_from(DIRECTIONS)), trend=draw(st.booleans()),
        normalisation=draw(normalisations()))


@st.composite
def profiles(draw) -> Profile:
    names = draw(st.lists(identifier, min_size=1, max_size=5, unique=True))
    signals = tuple(draw(signal_defs(n)) for n in names)
    if sum(s.weight for s in signals) == 0:
        signals = (dataclasses.replace(signals[0], weight=1.0), *signals[1:])
    health = draw(st.dictionaries(st.sampled_from(COMPONENTS), weight, min_size=1))
    if sum(health.values()) == 0:
        health["engagement"] = 1.0
    low, high = sorted(draw(st.lists(st.floats(0, 100), min_size=2, max_size=2)))
    return Profile(
        name=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)),
        signals=signals, health_weights=health, bands=Bands(low, high),
        new_rule=NewRule(draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))),
        expansion=Expansion(draw(st.floats(0, 1e6)), draw(st.floats(-1, 1e6))),
        window_days=draw(st.integers(1, 10**6)), passive_daily_cap=draw(st.integers(0, 10**6)),
        max_signal_share=draw(st.floats(0, 1, exclude_min=True)), description=draw(text))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles())
def test_toml_round_trip_of_any_valid_profile(profile):
    validate(profile)
    assert from_toml(to_toml(profile)) == profile


# ---------------------------------------------------------------- storage


def test_save_numbers_versions_per_name_and_load_gives_them_back(state):
    v1 = CLASSIC
    v2 = with_signal(CLASSIC, weight=35.0)
    assert save(state, v1, author="ana", note="first") == 1
    assert save(state, v2, author="bo", note="heavier reports") == 2
    assert save(state, default_profile(CATALOGUE), author="ana", note="") == 1
    assert load(state, "classic") == dataclasses.replace(v2, version=2)
    assert load(state, "classic", 1) == dataclasses.replace(v1, version=1)
    assert load(state, "classic", 1).ref == "classic@1"
    assert [(v.version, v.author, v.note, v.published) for v in versions(state, "classic")] == [
        (1, "ana", "first", False), (2, "bo", "heavier reports", False)]
    audit = state.read("SELECT actor, action, target, detail FROM audit_log ORDER BY id")
    assert audit == [("ana", "profile.save", "classic@1", "first"),
                     ("bo", "profile.save", "classic@2", "heavier reports"),
                     ("ana", "profile.save", "default@1", "")]
    body = state.read("SELECT body FROM profiles WHERE name = 'classic' AND version = 1")[0][0]
    assert body == to_toml(v1)


def test_an_invalid_profile_is_not_saved(state):
    with pytest.raises(ProfileError, match="weight is -1.0"):
        save(state, with_signal(CLASSIC, weight=-1.0), author="ana")
    assert state.read("SELECT count(*) FROM profiles") == [(0,)]
    assert state.read("SELECT count(*) FROM audit_log") == [(0,)]


def test_unknown_names_and_versions_suggest_what_exists(state):
    with pytest.raises(ProfileError, match='no saved profile "classic" — no profile is saved yet'):
        load(state, "classic")
    save(state, CLASSIC, author="ana")
    save(state, CLASSIC, author="ana")
    save(state, dataclasses.replace(CLASSIC, name="team"), author="ana")
    with pytest.raises(ProfileError, match=r'no saved profile "clasic" — did you mean "classic"\? '
                                           "saved profiles: classic, team$"):
        load(state, "clasic")
    with pytest.raises(ProfileError, match='no saved profile "zzz" — saved profiles: classic, team$'):
        load(state, "zzz")
    with pytest.raises(ProfileError, match=r'profile "classic" has no version 7 — saved versions: 1-2'):
        load(state, "classic", 7)
    with pytest.raises(ProfileError, match="did you mean"):
        versions(state, "clasic")
    with pytest.raises(ProfileError, match="has no version 3"):
        publish(state, "classic", 3, author="ana")


@pytest.mark.parametrize("ref, expected", [
    ("classic", ("classic", None)), ("classic@3", ("classic", 3)), ("team-v1.2@12", ("team-v1.2", 12))])
def test_parse_ref(ref, expected):
    assert parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "@3", "classic@", "classic@0", "classic@x", "a@1@2", "two words"])
def test_parse_ref_rejects_malformed_references(ref):
    with pytest.raises(ProfileError, match="expected NAME or NAME@VERSION"):
        parse_ref(ref)


def test_exactly_one_version_is_published(state):
    assert published(state) is None
    save(state, CLASSIC, author="ana")
    save(state, with_signal(CLASSIC, weight=1.0), author="ana")
    save(state, default_profile(CATALOGUE), author="bo")
    assert publish(state, "classic", author="ana") == 2
    assert published(state) == dataclasses.replace(with_signal(CLASSIC, weight=1.0), version=2)
    assert publish(state, "classic", 1, author="ana") == 1
    assert publish(state, "default", author="bo") == 1
    assert state.read("SELECT name, version FROM profiles WHERE published = 1") == [("default", 1)]
    assert [(r.name, r.versions, r.newest, r.published, r.author) for r in list_profiles(state)] == [
        ("classic", 2, 2, None, "ana"), ("default", 1, 1, 1, "bo")]
    actions = state.read("SELECT action, target FROM audit_log WHERE action = 'profile.publish'")
    assert actions == [("profile.publish", "classic@2"), ("profile.publish", "classic@1"),
                       ("profile.publish", "default@1")]


def test_resolve_follows_the_contract(state):
    assert resolve(state, None, CATALOGUE) == default_profile(CATALOGUE)
    assert resolve(state, "default", CATALOGUE) == default_profile(CATALOGUE)
    save(state, CLASSIC, author="ana")
    assert resolve(state, None, CATALOGUE) == default_profile(CATALOGUE)  # saved, not published
    save(state, with_signal(CLASSIC, weight=1.0), author="ana")
    publish(state, "classic", 1, author="ana")
    assert resolve(state, None, CATALOGUE).ref == "classic@1"
    assert resolve(state, "classic", CATALOGUE).ref == "classic@2"
    assert resolve(state, "classic@1", CATALOGUE) == dataclasses.replace(CLASSIC, version=1)
    with pytest.raises(ProfileError, match='did you mean "classic"'):
        resolve(state, "clasic", CATALOGUE)
    with pytest.raises(ProfileError, match="has no version 9"):
        resolve(state, "classic@9", CATALOGUE)
    mine = dataclasses.replace(CLASSIC, name="default")
    save(state, mine, author="ana")  # a saved "default" wins over the built-in one
    assert resolve(state, "default", CATALOGUE) == dataclasses.replace(mine, version=1)


def test_ensure_demo_profile_saves_and_publishes_classic_once(state):
    assert ensure_demo_profile(state) == dataclasses.replace(CLASSIC, version=1)
    assert ensure_demo_profile(state).ref == "classic@1"  # a second demo build changes nothing
    assert published(state).ref == "classic@1"
    save(state, default_profile(CATALOGUE), author="ana")
    publish(state, "default", author="ana")
    ensure_demo_profile(state)
    assert published(state).ref == "default@1"  # someone's choice stays published
    assert [v.version for v in versions(state, "classic")] == [1]


SAVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from scoring.profile import demo_profile
    from scoring.profiles import save
    from scoring.state import StateStore
    store = StateStore(sys.argv[1])
    for i in range(int(sys.argv[3])):
        save(store, demo_profile(), author=sys.argv[2], note=f"{{sys.argv[2]}}-{{i}}")
""")


def test_concurrent_saves_get_distinct_versions(tmp_path):
    path = tmp_path / "cs.state.sqlite"
    script = tmp_path / "saver.py"
    script.write_text(SAVER.format(root=str(ROOT)))
    procs = [subprocess.Popen([sys.executable, str(script), str(path), who, "60"])
             for who in ("p1", "p2")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    rows = StateStore(path).read("SELECT version, note FROM profiles ORDER BY version")
    assert [r[0] for r in rows] == list(range(1, 121))
    assert sorted(r[1] for r in rows) == sorted(f"{w}-{i}" for w in ("p1", "p2") for i in range(60))


# ---------------------------------------------------------------- the command line


def test_cli_import_list_show_export_publish(tmp_path):
    db, st_ = str(tmp_path / "cs.duckdb"), str(tmp_path / "cs.state.sqlite")
    where = ("--db", db, "--state", st_)
    src = tmp_path / "classic.toml"
    src.write_text(to_toml(CLASSIC), encoding="utf-8")

    r = cli("profiles", "list", *where)
    assert r.returncode == 0 and "no saved profiles" in r.stdout
    r = cli("profiles", "import", str(src), *where, "--author", "ana", "--note", "from review")
    assert (r.returncode, r.stdout, r.stderr) == (0, "saved classic version 1\n", "")
    r = cli("profiles", "import", str(src), *where, env={"USER": "bo"})
    assert r.stdout == "saved classic version 2\n"
    assert [(v.author, v.note) for v in versions(StateStore(st_), "classic")] == [
        ("ana", "from review"), ("bo", "imported from classic.toml")]

    r = cli("profiles", "show", "classic@1", *where)
    assert r.returncode == 0 and r.stdout == to_toml(CLASSIC)
    out = tmp_path / "exported.toml"
    assert cli("profiles", "export", "classic", str(out), *where).returncode == 0
    assert out.read_text(encoding="utf-8") == src.read_text(encoding="utf-8")
    assert cli("profiles", "import", str(out), *where).stdout == "saved classic version 3\n"
    again = tmp_path / "again.toml"
    assert cli("profiles", "export", "classic@3", str(again), *where).returncode == 0
    assert again.read_bytes() == out.read_bytes()

    r = cli("profiles", "publish", "classic@2", *where)
    assert (r.returncode, r.stdout) == (0, "published classic version 2\n")
    r = cli("profiles", "list", *where)
    header, row = r.stdout.splitlines()[:2]
    assert header.split()[:4] == ["name", "versions", "newest", "published"]
    assert row.split()[:4] == ["classic", "3", "3", "2"]
    assert published(StateStore(st_)).ref == "classic@2"


def test_cli_import_warns_about_events_the_data_lacks(tmp_path, good_dir):
    db, st_ = str(tmp_path / "cs.duckdb"), str(tmp_path / "cs.state.sqlite")
    assert cli("import", str(good_dir), "--db", db).returncode == 0
    src = tmp_path / "classic.toml"
    src.write_text(to_toml(with_signal(CLASSIC, 1, event_types=("report_generatd",))))
    r = cli("profiles", "import", str(src), "--db", db, "--state", st_)
    assert r.returncode == 0 and r.stdout == "saved classic version 1\n"
    assert r.stderr.startswith('warning: profile "classic": event type "report_generatd" in signal '
                               'reports_generated is not in the event-type catalogue — did you mean '
                               '"report_generated"? (and 3 more problems)')


@pytest.mark.parametrize("args, expected", [
    (("import", "{tmp}/missing.toml"), "error: no file at"),
    (("import", "{tmp}/broken.toml"), "not valid TOML"),
    (("import", "{tmp}/invalid.toml"), 'unknown kind "summ" in signal reports_generated'),
    (("show", "clasic"), 'did you mean "classic"?'),
    (("export", "classic@5", "{tmp}/x.toml"), "has no version 5"),
    (("publish", "classic@0"), "expected NAME or NAME@VERSION"),
])
def test_cli_bad_input_exits_1_with_one_line(tmp_path, args, expected):
    where = ("--db", str(tmp_path / "cs.duckdb"), "--state", str(tmp_path / "cs.state.sqlite"))
    save(StateStore(tmp_path / "cs.state.sqlite"), CLASSIC, author="ana")
    (tmp_path / "broken.toml").write_text('name = "x"\nwindow_days = = 3\n')
    (tmp_path / "invalid.toml").write_text(to_toml(CLASSIC).replace('kind = "sum"', 'kind = "summ"'))
    r = cli("profiles", *[a.format(tmp=tmp_path) for a in args], *where)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and expected in r.stderr


@pytest.mark.parametrize("args", [("profiles",), ("profiles", "rename", "x"), ("profiles", "show"),
                                  ("profiles", "export", "classic")])
def test_cli_wrong_usage_exits_2(tmp_path, args):
    assert cli(*args, "--state", str(tmp_path / "s.sqlite")).returncode == 2


# ---------------------------------------------------------------- built-in profiles


def test_default_profile_follows_the_catalogue():
    full = default_profile(CATALOGUE)
    assert full.name == "default"
    assert [(s.name, s.dimension, s.kind, s.per, s.value_only) for s in full.signals] == [
        ("days_active", "frequency", "active_days", None, False),
        ("features_used", "breadth", "distinct_features", None, False),
        ("value_actions_per_user", "depth", "sum", "active_user", True),
        ("users_per_seat", "collaboration", "distinct_users", "seat", False),
        ("integration_events", "integration", "sum", None, False),
    ]
    assert full.signal("integration_events").event_types == ("api_call", "webhook_delivered")
    validate(full)
    check_known_events(full, CATALOGUE)
    passive_only = CATALOGUE.assign(value_action=False, dimension="frequency")
    assert [s.name for s in default_profile(passive_only).signals] == [
        "days_active", "features_used", "users_per_seat"]
    bare = default_profile(CATALOGUE.iloc[0:0])
    assert bare.signals == default_profile(None).signals == default_profile(passive_only).signals
    validate(bare)
    weights = [s.weight for s in full.signals]
    assert max(weights) / sum(weights) <= full.max_signal_share


def test_demo_profile_is_the_classic_example_on_the_demo_events():
    demo = demo_profile()
    validate(demo)
    total = sum(s.weight for s in demo.signals)
    shares = {s.event_types: s.weight / total for s in demo.signals}
    assert shares == pytest.approx({("login",): 0.20, ("report_generated",): 0.30,
                                    ("integration_connected",): 0.25, ("teammate_invited",): 0.15,
                                    ("api_call",): 0.10})
    assert demo.signal("logins").kind == "active_days"
    demo_catalogue = pd.DataFrame([e[:4] for e in DEMO_CATALOGUE],
                                  columns=["event_type", "feature", "dimension", "value_action"])
    check_known_events(demo, demo_catalogue)
    check_known_events(default_profile(demo_catalogue), demo_catalogue)
