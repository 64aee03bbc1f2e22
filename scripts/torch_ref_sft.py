"""The SFT step of torch_ref.py alone (the same model, batch and timing: the script's own code up
to its SFT measurement), for a side-by-side short enough to run while other jobs are paused.
Usage: python3 torch_ref_sft.py [torch_ref.py's flags, e.g. --threads 2]. Prints one JSON line.
"""
import json, os

src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'torch_ref.py')).read()
end = 't_sft = timeit(sft, a.iters)'
exec(compile(src[:src.index(end) + len(end)], 'torch_ref.py', 'exec'))
print(json.dumps(dict(torch=torch.__version__, threads=torch.get_num_threads(), shapes=vars(a),
    sft_tokens_per_s=round(a.batch * (a.seq - 1) / t_sft))))
