"""Hand-written annotations of the restore corpus, merged by measure_restore.py build.

``why``: list of (regex on "ename: evalue", library_change, explanation); the
first match annotates an error of a measured run.  ``pins``: the hand-made
environment (Python 3.11.7) under which the notebook runs again; every such
environment also holds ipykernel, nbclient, nbformat and pillow (latest).
"""

PDSH = "jakevdp/PythonDataScienceHandbook@d66231454ef753818dc9213c9b5942e067266966"
PDSH_LICENCE = "code MIT (LICENSE-CODE), text CC-BY-NC-ND 3.0 (LICENSE-TEXT)"
HOML = "ageron/handson-ml@b7051594afbb1d835f5e031af8664c4363878050"
HODA = "stefmolin/Hands-On-Data-Analysis-with-Pandas@1f54e357fd6023a39652a813487bf4f05918d118"

NAMEERROR = (
    r"^NameError: ",
    False,
    "knock-on: a name that an earlier failing cell should have defined",
)
NOTFITTED = (
    r"^NotFittedError: ",
    False,
    "knock-on: the estimator's fit was in an earlier failing cell",
)

CASES = {
    "pdsh_missing_values": {
        "source": PDSH + ":notebooks/03.04-Missing-Values.ipynb",
        "notebook": "03.04-Missing-Values.ipynb",
        "licence": PDSH_LICENCE,
        "data_files": [],
        "date_hint": "2023-05-05",
        "breakage": [
            "pandas 3.0 removed the `method=` keyword of Series/DataFrame.fillna (deprecated in 2.1)",
        ],
        "pins": ["numpy==1.24.3", "pandas==2.0.1"],
        "why": [
            (
                r"^TypeError: unsupported operand type\(s\) for \+: 'int' and 'NoneType'",
                False,
                "raised on purpose by the author (the saved notebook shows the same error)",
            ),
            (
                r"fillna\(\) got an unexpected keyword argument 'method'",
                True,
                "pandas 3.0 removed fillna(method='ffill'/'bfill')",
            ),
        ],
        "note": "The date of the file (2023-05-05) resolves to pandas 2.0.1, which is enough here.",
    },
    "pdsh_concat_append": {
        "source": PDSH + ":notebooks/03.06-Concat-And-Append.ipynb",
        "notebook": "03.06-Concat-And-Append.ipynb",
        "licence": PDSH_LICENCE,
        "data_files": [],
        "date_hint": "2023-05-05",
        "breakage": [
            "pandas 2.0 removed DataFrame.append (called inside a display helper that eval()s the string 'df1.append(df2)')",
        ],
        "pins": ["numpy==1.24.3", "pandas==1.5.3"],
        "why": [
            (
                r"'DataFrame' object has no attribute 'append'",
                True,
                "pandas 2.0 removed DataFrame.append",
            ),
        ],
        "note": "Dating alone is NOT enough: --exclude-newer 2023-05-05 resolves pandas 2.0.1 "
        "(released 2023-04-24), which already lacks DataFrame.append; pandas<2 is needed. "
        "Under pandas 1.5.3 cell 37 runs but prints a FutureWarning on stderr, so its "
        "output differs from the saved one.",
    },
    "pdsh_colorbars": {
        "source": PDSH + ":notebooks/04.07-Customizing-Colorbars.ipynb",
        "notebook": "04.07-Customizing-Colorbars.ipynb",
        "licence": PDSH_LICENCE,
        "data_files": [],
        "date_hint": "2023-05-05",
        "breakage": [
            "matplotlib 3.8 removed the 'seaborn-white' style (renamed seaborn-v0_8-white, deprecated in 3.6)",
            "matplotlib 3.9 removed matplotlib.cm.get_cmap (plt.cm.get_cmap)",
        ],
        "pins": ["numpy==1.24.3", "matplotlib==3.7.1", "scipy==1.10.1", "scikit-learn==1.2.2"],
        "why": [
            (
                r"^OSError: 'seaborn-white' is not a valid package style",
                True,
                "matplotlib 3.8 removed the old seaborn-* style names",
            ),
            (
                r"module 'matplotlib.cm' has no attribute 'get_cmap'",
                True,
                "matplotlib 3.9 removed matplotlib.cm.get_cmap",
            ),
        ],
        "note": "Uses sklearn's bundled load_digits and Isomap (scikit-learn and scipy are needed "
        "besides matplotlib). No output matches the saved one in either run: every saved "
        "output is a figure (pixel digests differ across matplotlib/freetype builds) and "
        "matplotlib 3.7 adds a deprecation warning for the style on stderr.",
    },
    "handson_linear_models": {
        "source": HOML + ":04_training_linear_models.ipynb",
        "notebook": "04_training_linear_models.ipynb",
        "licence": "Apache-2.0 (LICENSE)",
        "data_files": [],
        "date_hint": "2021-03-24",
        "breakage": [
            "numpy 2.0 removed np.infty",
            "numpy 1.24 removed np.int",
            "scikit-learn 1.2 validates parameters: SGDRegressor(tol=-np.infty) raises InvalidParameterError "
            "(hidden behind the numpy error today; shows up once numpy<2 alone is pinned)",
            "scikit-learn 1.7 removed LogisticRegression(multi_class=)",
        ],
        "pins": [
            "numpy==1.23.5",
            "matplotlib==3.6.3",
            "scipy==1.9.3",
            "scikit-learn==1.1.3",
            "matplotlib-inline==0.1.7",
        ],
        "why": [
            (
                r"np\.infty` was removed in the NumPy 2\.0 release",
                True,
                "numpy 2.0 removed np.infty",
            ),
            (r"module 'numpy' has no attribute 'int'", True, "numpy 1.24 removed the np.int alias"),
            (
                r"unexpected keyword argument 'multi_class'",
                True,
                "scikit-learn removed LogisticRegression(multi_class=) (deprecated in 1.5)",
            ),
            (
                r"^ValueError: Found input variables with inconsistent numbers of samples",
                False,
                "knock-on: y was not redefined because the cell using np.int failed",
            ),
            NAMEERROR,
            NOTFITTED,
        ],
        "note": "The file date (2021-03) is below the Python 3.11 floors: the restore must lift "
        "numpy/scipy/scikit-learn/matplotlib to their first cp311 releases. numpy 1.23.5 "
        "is the newest numpy with np.int (DeprecationWarning) and scikit-learn 1.1.3 the "
        "last without parameter validation. matplotlib 3.6 needs matplotlib-inline<0.2 "
        "(0.2 calls RcParams._get, added in matplotlib 3.7). Writes PNGs to images/ in its "
        "run folder.",
    },
    "handson_tools_pandas": {
        "source": HOML + ":tools_pandas.ipynb",
        "notebook": "tools_pandas.ipynb",
        "licence": "Apache-2.0 (LICENSE)",
        "data_files": [],
        "date_hint": "2021-04-07",
        "breakage": [
            "pandas 3.0 removed the 'H'/'A' frequency aliases",
            "pandas 3.0: Series[int] on a labelled index is label-only (KeyError: 1)",
            "pandas 3.0 string dtype: mean() of a str column raises",
            "pandas 2.0 removed DataFrame.append and setting Categorical.categories",
            "numpy 1.24 removed np.object",
            "hidden dependency: interpolate(method='cubic') needs scipy, never imported by the notebook",
        ],
        "pins": [
            "numpy==1.23.5",
            "pandas==1.5.3",
            "matplotlib==3.6.3",
            "scipy==1.9.3",
            "matplotlib-inline==0.1.7",
        ],
        "why": [
            (
                r"^KeyError: 1$",
                True,
                "pandas 3.0: integer keys on a labelled Series index are labels only",
            ),
            (
                r"Invalid frequency: \d*[HA]\b",
                True,
                "pandas 3.0 removed the 'H' and 'A' offset aliases",
            ),
            (
                r"module 'numpy' has no attribute 'object'",
                True,
                "numpy 1.24 removed the np.object alias",
            ),
            (
                r"dtype 'str' does not support operation 'mean'",
                True,
                "pandas 3.0 infers the new str dtype for string columns",
            ),
            (
                r"'DataFrame' object has no attribute 'append'",
                True,
                "pandas 2.0 removed DataFrame.append",
            ),
            (
                r"property 'categories' of 'Categorical' object has no setter",
                True,
                "pandas 2.0 removed setting Categorical.categories",
            ),
            (
                r"Missing optional dependency 'scipy'",
                False,
                "scipy missing from the environment (optional pandas dependency, not imported by the notebook)",
            ),
            NAMEERROR,
        ],
        "note": "Cell 270 tries to read a CSV over HTTP inside try/except IOError and prints the "
        "error; without network it fails the same way as in the saved notebook (message "
        "differs). Without scipy in the env, cell 70 fails (cubic interpolation).",
    },
    "lime_regression": {
        "source": "marcotcr/lime@fd7eb2e6f760619c29fca0187c07b82157601b32:doc/notebooks/Using lime for regression.ipynb",
        "notebook": "Using lime for regression.ipynb",
        "licence": "BSD-2-Clause (LICENSE)",
        "data_files": [],
        "date_hint": "2017-12-13",
        "breakage": [
            "scikit-learn 1.2 removed load_boston (its data ships inside scikit-learn<1.2)",
            "IPython 9 removed IPython.core.display.display, imported by lime's explanation.show_in_notebook "
            "(hidden behind the scikit-learn error today)",
            "needs the `lime` package, absent from today's environment",
        ],
        "pins": [
            "numpy==1.23.5",
            "scipy==1.9.3",
            "scikit-learn==1.1.3",
            "matplotlib==3.6.3",
            "lime==0.2.0.1",
            "ipython==8.18.1",
            "matplotlib-inline==0.1.7",
        ],
        "why": [
            (
                r"`load_boston` has been removed from scikit-learn",
                True,
                "scikit-learn 1.2 removed load_boston",
            ),
            (r"No module named 'lime'", False, "package not installed in today's environment"),
            (
                r"cannot import name 'display' from 'IPython.core.display'",
                True,
                "IPython 9 removed IPython.core.display.display (used by lime 0.2.0.1)",
            ),
            NAMEERROR,
        ],
        "note": "Saved under Python 2.7. The random forest and LIME sampling are unseeded, so "
        "numeric outputs differ from the saved ones even when everything runs.",
    },
    "netsci_ch3": {
        "source": "CambridgeUniversityPress/FirstCourseNetworkScience@de9b42e3953ed90616940a801f64489067c1b888:tutorials/Chapter 3 Tutorial.ipynb",
        "notebook": "tutorials/Chapter 3 Tutorial.ipynb",
        "licence": "CC-BY-4.0 (LICENSE)",
        "data_files": ["datasets/ia-enron-only/ia-enron-only.edges"],
        "date_hint": "2023-11-02",
        "breakage": ["networkx 3.0 removed nx.info"],
        "pins": ["networkx==2.8.8", "matplotlib==3.8.1", "numpy==1.26.1", "scipy==1.11.3"],
        "why": [
            (r"module 'networkx' has no attribute 'info'", True, "networkx 3.0 removed nx.info"),
            (
                r"^TypeError: 'dict' object is not callable",
                False,
                "raised on purpose by the author (the saved notebook shows the same error)",
            ),
        ],
        "note": "The notebook sits in tutorials/ and reads ../datasets/..., so the folder keeps "
        "that layout (the .ipynb is not at the top of the folder). Dating alone is NOT "
        "enough: --exclude-newer 2023-11-02 resolves networkx 3.2.1; networkx<3 is needed. "
        "nx.info of networkx 2.8 prints a one-line summary, so cell 2 differs from the "
        "saved (networkx 2.0-era) text.",
    },
    "tirthajyoti_lasso": {
        "source": "tirthajyoti/Machine-Learning-with-Python@ad23604344b55c759d0ffd24ac4c5695e9f79822:Regression/Multi-variate LASSO regression with CV.ipynb",
        "notebook": "Multi-variate LASSO regression with CV.ipynb",
        "licence": "BSD-2-Clause (LICENSE)",
        "data_files": [],
        "date_hint": "2018-12-21",
        "breakage": [
            "scikit-learn 1.2 removed the `normalize=` parameter of LinearRegression and LassoCV",
            "scikit-learn 1.2 removed PolynomialFeatures.get_feature_names",
        ],
        "pins": [
            "numpy==1.23.5",
            "pandas==1.5.3",
            "matplotlib==3.6.3",
            "scipy==1.9.3",
            "scikit-learn==1.1.3",
            "matplotlib-inline==0.1.7",
        ],
        "why": [
            (
                r"unexpected keyword argument 'normalize'",
                True,
                "scikit-learn 1.2 removed normalize=",
            ),
            (
                r"'PolynomialFeatures' object has no attribute 'get_feature_names'",
                True,
                "scikit-learn 1.2 removed get_feature_names (use get_feature_names_out)",
            ),
            NAMEERROR,
        ],
        "note": "Data is unseeded np.random, so numbers and figures differ from the saved outputs.",
    },
    "hoda_preprocessing": {
        "source": HODA + ":ch_09/preprocessing.ipynb",
        "notebook": "preprocessing.ipynb",
        "licence": "MIT (LICENSE)",
        "data_files": [
            "data/planets.csv",
            "data/winequality-red.csv",
            "data/winequality-white.csv",
        ],
        "date_hint": "2019-06-11",
        "breakage": [
            "scikit-learn 1.4 removed OneHotEncoder(sparse=) (renamed sparse_output in 1.2)"
        ],
        "pins": [
            "numpy==1.23.5",
            "pandas==1.5.3",
            "matplotlib==3.6.3",
            "scipy==1.9.3",
            "scikit-learn==1.1.3",
            "matplotlib-inline==0.1.7",
        ],
        "why": [
            (
                r"unexpected keyword argument 'sparse'",
                True,
                "scikit-learn 1.4 removed OneHotEncoder(sparse=)",
            ),
        ],
    },
    "hoda_time_series": {
        "source": HODA + ":ch_04/4-time_series.ipynb",
        "notebook": "4-time_series.ipynb",
        "licence": "MIT (LICENSE)",
        "data_files": [
            "data/fb_2018.csv",
            "data/fb_week_of_may_20_per_minute.csv",
            "data/melted_stock_data.csv",
            "data/stocks.db",
        ],
        "date_hint": "2019-06-11",
        "breakage": [
            "pandas 2.0 removed df['2018-q1'] row selection by a date string in []",
            "pandas 3.0 removed DataFrame.first/last",
            "pandas 3.0 removed read_csv(date_parser=)",
            "pandas 3.0 removed the 'T', 'H', 'Q' frequency aliases",
            "pandas 2.0 removed Resampler.pad",
            "pandas 1.0 removed Index.contains: NOT fixable on Python 3.11 (pandas>=1.5); cell 33 stays failing",
        ],
        "pins": ["numpy==1.23.5", "pandas==1.5.3", "matplotlib==3.6.3", "matplotlib-inline==0.1.7"],
        "why": [
            (
                r"^KeyError: '2018-(q1|09)'",
                True,
                "pandas 2.0 removed selecting rows by a date string in DataFrame[]",
            ),
            (
                r"'DataFrame' object has no attribute '(first|last)'",
                True,
                "pandas 3.0 removed DataFrame.first/last",
            ),
            (
                r"unexpected keyword argument 'date_parser'",
                True,
                "pandas 3.0 removed read_csv(date_parser=)",
            ),
            (
                r"'DatetimeIndex' object has no attribute 'contains'",
                True,
                "pandas 1.0 removed Index.contains; no pandas with cp311 wheels has it",
            ),
            (
                r"Invalid frequency: \d*[THQ]\b",
                True,
                "pandas 3.0 removed the 'T'/'H'/'Q' offset aliases",
            ),
            NAMEERROR,
        ],
        "note": "Partial restore: everything but cell 33 (fb.index.contains, removed in pandas 1.0) "
        "runs under pandas 1.5.3.",
    },
}
