"""The static site builder: a site's entries → HTML, feeds, sitemap, with Jinja2 themes.

``build.build_site(ctx, site, out_dir, base_url)`` is the entry point; it re-renders only the
pages whose records changed and never rewrites an unchanged file.
"""
