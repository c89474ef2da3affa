"""``python -m recipes.librispeech <command> with key=value ...``

Commands: prepare, train, evaluate, export, classify (the stages of
run.sh); ``python -m recipes.librispeech print_config`` shows the config.
"""
from recipes.librispeech.experiment import ex

if __name__ == '__main__':
    ex.run_commandline()
