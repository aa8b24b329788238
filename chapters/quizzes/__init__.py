"""The chapters' "Check yourself" quizzes: one JSON file per chapter, named after it (02_softmax.json).

This file only makes the folder the package data ``book.quizzes`` (pyproject.toml maps it there), so that
``book.quiz.show_quiz("02_softmax")`` finds the questions wherever the course package is installed, Colab
included. The format and its checks: book/quiz/questions.py.
"""
