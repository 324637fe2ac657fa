"""The lab: experiments on a trained model. Each returns arrays and dataclasses, never figures.

- ``inspection``: conv kernels, feature maps, each filter's preferred input.
- ``convolution``: one convolution step by hand; ``receptive_field``: what each unit sees;
  ``top_patches``: the test patches that excite each filter most.
- ``shift``: digits moved by whole pixels, accuracy against shift, equivariance.
- ``data_efficiency`` (and its worker): both networks trained on 500 .. 60,000 digits.
- ``explain``: Grad-CAM, occlusion, integrated gradients; ``knockout``: units switched off.
- ``evaluation``: the 10,000 test digits' answers; ``familiarity``: whether a drawing looks
  like the digits a model learnt from.
- ``prepare`` (and its worker): everything above computed once per model before it is offered;
  ``measured_cost``: its forward and gradient passes timed against the bundled model's.

Built on ``mnist_model.engine``; knows nothing of ``mnist_model.figures``.
"""
