/* Left empty on purpose: it replaces pydata-sphinx-theme's 1.49 MB fontawesome.js, which only
   redraws the icons as SVG. The theme's stylesheet draws them from the icon font, subset to
   the icons the book uses by book/_ext/icon_subset.py, which says when both can go. */
