"""``hogformer app``: the web page for restoring images (Gradio; ``pip install 'hogformer[app]'``).

:func:`hogformer.app.page.build_app` builds the page; :mod:`hogformer.app.core` holds what it does, without
Gradio. The page exposes one named API endpoint, ``/restore`` (an image file in, the restored file out)::

    from gradio_client import Client, handle_file
    restored_path = Client("http://127.0.0.1:7860/").predict(handle_file("photo.jpg"), api_name="/restore")
"""
