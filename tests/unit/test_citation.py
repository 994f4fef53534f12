"""What a repository's CITATION.cff states, and nothing more, is what an RO-Crate says about it."""

from __future__ import annotations

from repro.artifact.citation import Author, ProjectFacts, read_citation


def test_authors_licence_and_code_url_come_from_the_citation_file() -> None:
    facts = read_citation(
        "cff-version: 1.2.0\n"
        "title: x\n"
        "authors:\n"
        "  - given-names: Ada\n"
        "    family-names: Lovelace\n"
        "    orcid: https://orcid.org/0000-0002-1825-0097\n"
        "    affiliation: Analytical Engines\n"
        "  - name: The Cache Lab\n"
        "    website: https://cachelab.example.org\n"
        "license: CC-BY-4.0\n"
        "repository-code: https://git.example.org/lab/exp\n"
    )
    assert facts.license == "CC-BY-4.0"
    assert facts.url == "https://git.example.org/lab/exp"
    assert facts.authors == (
        Author(
            "Ada Lovelace", person=True, orcid="https://orcid.org/0000-0002-1825-0097", affiliation="Analytical Engines"
        ),
        Author("The Cache Lab", person=False, url="https://cachelab.example.org"),
    )


def test_a_missing_unreadable_or_aliased_citation_file_states_nothing() -> None:
    assert read_citation(None) == ProjectFacts()
    assert read_citation("authors: [unclosed\n") == ProjectFacts()
    assert read_citation("a: &x [1]\nb: *x\nlicense: MIT\n") == ProjectFacts()


def test_several_licences_are_not_folded_into_one() -> None:
    assert read_citation("license: [MIT, Apache-2.0]\n").license is None
    assert read_citation("license: [MIT]\n").license == "MIT"
