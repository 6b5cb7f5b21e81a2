from app import create_app; app = create_app()  # the whole WSGI entry point, on one line
