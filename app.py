"""DCGAN Portrait Studio: the Streamlit entry point (`streamlit run app.py`).

Navigation over the pages in pages/; each page imports `dcgan` modules that do not import
TensorFlow, so pages appear in about two seconds.
"""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `pages.common` from any cwd
from pages.common import CLASS_LINK, LINKS  # after the path above

st.set_page_config(page_title="DCGAN Portrait Studio", page_icon="🎨", layout="wide")
PAGES = [st.Page(path, title=title, icon=icon, default=i == 0)
         for i, (path, title, icon) in enumerate((*LINKS, CLASS_LINK))]  # Home: the default
# (the Class page is linked for teachers only, and says so to anyone else who opens it)
# The pages draw their own sidebar links (pages.common.sidebar) and the automatic list is
# off (client.showSidebarNavigation = false): on a server's very first run Streamlit's legacy
# pages/ handling may run a deep-linked page without this script, and the links must still
# be there.
st.navigation(PAGES, position="hidden").run()
