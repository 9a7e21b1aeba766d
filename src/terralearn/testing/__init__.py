"""Test support shipped with the library: stand-ins for services that need credentials.

:mod:`terralearn.testing.ee_standin` replaces the Earth Engine API (``ee``) with a local
module serving analytic arrays. Library code never imports this package.
"""
