"""Reports: everything that presents results to a person.

* :mod:`.comparison`: the data of a comparison (:class:`~.comparison.Comparison`, :class:`~.comparison.Panel`);
* :mod:`.figure`: the PNG comparison figure;
* :mod:`.html`: the HTML pages (``compare``'s report, ``animate --compare``'s page);
* :mod:`.frames`: side-by-side animation frames;
* :mod:`.text`: number formatting and the ``eval`` tables (terminal and Markdown).

Reports only draw what they are given: no model runs or scoring happens here.
"""
