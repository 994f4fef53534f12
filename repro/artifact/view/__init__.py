"""The view page (``repro view``, ``repro ui``): the runs as columns, each run's details, and the
page that holds them with its own code and styles (:mod:`.model`, :mod:`.page`, :mod:`.words`;
the front end in ``assets/``)."""
