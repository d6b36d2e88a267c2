"""A mirror of `db update`'s default sources: every file at the path its upstream serves it under, so one local
HTTP server stands for all upstream hosts (`--mirror` / the chart's `db.mirror`), as at an air-gapped site.

  mirror.py real ADVISORIES OUT          the shared test data's records, unmodified, where it has them; a source it
                                         has nothing for is an empty feed of the upstream's format
  mirror.py synthetic ADVISORIES OUT N   about N times the upstreams' size (late 2025), from the shared records
                                         with new ids and each feed's ecosystem (scripts/bench-import)

The default source list is crates/vulndb/src/update.rs; a path missing here fails the update that needs it.
"""
import datetime, glob, json, os, sys, zipfile

import yaml

# The OSV ecosystems of the default sources, with the shared folders holding their real records, and the records
# each upstream held (approximately, late 2025) for the synthetic size.
OSV = {"PyPI": (["pypi/vulns/*/*.yaml"], 17000), "crates.io": ([], 2000), "Go": (["go/data/osv/*.json"], 5000),
       "npm": ([], 210000), "Maven": (["osv-more/Maven/*.json"], 6000),
       "RubyGems": (["osv-more/RubyGems/*.json"], 1000), "NuGet": (["osv-more/NuGet/*.json"], 1000),
       "Packagist": (["osv-more/Packagist/*.json"], 5000), "Wolfi": (["osv-more/Wolfi/*.json"], 3000),
       "Chainguard": (["osv-more/Chainguard/*.json"], 4000),
       "Ubuntu": (["osv-more/Ubuntu/*.json", "ubuntu-osv-sample/*.json"], 60000),
       "AlmaLinux": (["osv-more/AlmaLinux/*.json"], 5000), "Rocky Linux": ([], 5000), "Red Hat": ([], 40000),
       "SUSE": ([], 70000), "openSUSE": ([], 20000), "Debian": (["osv-more/DebianOSV/*.json"], 55000),
       "Alpine": (["osv-more/AlpineOSV/*.json"], 15000)}
# The namespace a synthetic record of each feed is given.
NAMESPACE = {"Ubuntu": "Ubuntu:22.04:LTS", "AlmaLinux": "AlmaLinux:9", "Rocky Linux": "Rocky Linux:9",
             "Red Hat": "Red Hat:enterprise_linux:9::appstream", "SUSE": "SUSE:Linux Enterprise Server 15 SP5",
             "openSUSE": "openSUSE:Leap 15.5", "Debian": "Debian:12", "Alpine": "Alpine:v3.20"}
NVD_TOTAL, NVD_FIRST = 300000, 2002
ALPINE_BRANCHES = ("v3.20", "v3.21", "v3.22")
DEBIAN = "security-tracker-team/security-tracker/-/raw/master/data"


def load(path):
    with open(path) as f:
        return yaml.safe_load(f) if path.endswith((".yaml", ".yml")) else json.load(f)


def write_zip(path, entries):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, record in entries:
            z.writestr(name, json.dumps(record, default=str))


def nvd_feed(records):
    return {"resultsPerPage": len(records), "startIndex": 0, "totalResults": len(records), "format": "NVD_CVE",
            "version": "2.0", "timestamp": "2026-12-01T00:00:00.000",
            "vulnerabilities": [{"cve": r} for r in records]}


def main(mode, adv, out, scale=0.0):
    years = range(NVD_FIRST, datetime.date.today().year + 1)
    records = {eco: [p for g in globs for p in sorted(glob.glob(f"{adv}/{g}"))] for eco, (globs, _) in OSV.items()}
    nvd = [load(p) for p in sorted(glob.glob(f"{adv}/nvd/*.json"))]
    if mode == "real":
        for eco, paths in records.items():
            write_zip(f"{out}/{eco}/all.zip", [(f"{load(p)['id']}.json", load(p)) for p in paths])
        for y in years:
            of_year = [r for r in nvd if r.get("id", "").startswith(f"CVE-{y}-")]
            if y == NVD_FIRST:  # the first feed holds 1999 to 2002
                of_year += [r for r in nvd if r.get("id", "") < f"CVE-{NVD_FIRST}-"]
            write_zip(f"{out}/feeds/json/cve/2.0/nvdcve-2.0-{y}.json.zip", [(f"nvdcve-2.0-{y}.json", nvd_feed(of_year))])
    else:
        pool = [r for paths in records.values() for r in map(load, paths) if r.get("affected")][:6000]
        for eco, (_, upstream) in OSV.items():
            entries = []
            for i in range(int(upstream * scale)):
                r = dict(pool[i % len(pool)], id=f"SYN-{eco.replace(' ', '')}-{i}")
                r["affected"] = [dict(a, package=dict(a.get("package", {}), ecosystem=NAMESPACE.get(eco, eco)))
                                 for a in r["affected"]]
                entries.append((f"{r['id']}.json", r))
            write_zip(f"{out}/{eco}/all.zip", entries)
        per = int(NVD_TOTAL * scale) // len(years)
        for y in years:
            feed = nvd_feed([dict(nvd[i % len(nvd)], id=f"CVE-{y}-{100000 + i}") for i in range(per)])
            write_zip(f"{out}/feeds/json/cve/2.0/nvdcve-2.0-{y}.json.zip", [(f"nvdcve-2.0-{y}.json", feed)])
    for kind in ("DSA", "DLA"):
        os.makedirs(f"{out}/{DEBIAN}/{kind}", exist_ok=True)
        with open(f"{adv}/debian-security-tracker/data/{kind}/list") as src, open(f"{out}/{DEBIAN}/{kind}/list", "w") as dst:
            dst.write(src.read())
    # The shared secdb files are of older branches; each supported branch's file gets their entries.
    for branch in ALPINE_BRANCHES:
        os.makedirs(f"{out}/{branch}", exist_ok=True)
        for repo in ("main", "community"):
            d = load(f"{adv}/alpine-secdb/v3.10/{repo}.yaml")
            d["distroversion"] = branch
            with open(f"{out}/{branch}/{repo}.json", "w") as f:
                json.dump(d, f, default=str)


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] not in ("real", "synthetic"):
        sys.exit(__doc__)
    target = sys.argv[3]
    if os.path.exists(f"{target}/.complete"):
        sys.exit(0)
    main(sys.argv[1], sys.argv[2], target, float(sys.argv[4]) if len(sys.argv) > 4 else 1.0)
    open(f"{target}/.complete", "w").close()
