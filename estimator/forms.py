from django import forms


class UploadForm(forms.Form):
    image = forms.FileField(
        label="Photo",
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
        help_text="JPEG, PNG, WebP, still GIF, BMP or TIFF, up to 10 MB.",
    )
