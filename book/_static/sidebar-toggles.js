/* The visible buttons that open the table of contents and the "on this page" panel.
 *
 * Works around pydata/pydata-sphinx-theme#2451 and executablebooks/sphinx-book-theme#988: each
 * page has two .primary-toggle buttons (the theme's hidden navbar one and the book theme's
 * visible one in the article header), likewise two .secondary-toggle buttons, and both themes
 * wire their click handlers to document.querySelector(".primary-toggle"), the hidden one. So
 * the visible buttons did nothing at any width. Here a click on any other toggle is handed to
 * the wired one, which then does what the themes intend: open the sidebar as a dialog on
 * narrow screens, collapse or show it on wide ones. Buttons answer Enter and Space with a
 * click, so the keyboard works too; Escape and a tap beside the dialog close it.
 *
 * Remove this file (and its line in _config.yml) once the pinned pydata-sphinx-theme and
 * sphinx-book-theme both wire every toggle (querySelectorAll); tests/test_browser.py's drawer
 * test then still passes without it.
 */
document.addEventListener("DOMContentLoaded", () => {
  for (const kind of ["primary", "secondary"]) {
    const [wired, ...others] = document.querySelectorAll(`.${kind}-toggle`);
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        wired.click();
      });
    }
  }
});
